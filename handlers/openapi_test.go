package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"
	"github.com/labstack/echo/v4"
)

// openAPIRouters keeps one router per request host: loading the document and building a router
// is most of the time an API test spends validating, and the document does not change in a run.
var openAPIRouters sync.Map // host -> routers.Router

// openAPIRouter is the document's router for requests to host (the document's server is relative;
// giving it the test request's origin makes routes match).
func openAPIRouter(host string) (routers.Router, error) {
	if r, ok := openAPIRouters.Load(host); ok {
		return r.(routers.Router), nil
	}
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	doc.Servers = openapi3.Servers{{URL: "http://" + host + "/api/v1"}}
	router, err := legacy.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("openapi router: %w", err)
	}
	openAPIRouters.Store(host, router)
	return router, nil
}

// validateAgainstOpenAPI fails the test when rec, the answer to req, is not what openapi.yaml
// promises for that path, method and status. Use it on every response a handler test gets, so
// the document cannot drift from the code.
func validateAgainstOpenAPI(t testing.TB, req *http.Request, rec *httptest.ResponseRecorder) {
	t.Helper()
	router, err := openAPIRouter(req.Host)
	if err != nil {
		t.Fatal(err)
	}
	u := *req.URL
	u.Scheme, u.Host = "http", req.Host
	r := req.Clone(context.Background())
	r.URL = &u
	route, params, err := router.FindRoute(r)
	if err != nil {
		t.Fatalf("%s %s is not in openapi.yaml: %v", req.Method, req.URL.Path, err)
	}
	in := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{Request: r, PathParams: params, Route: route},
		Status:                 rec.Code,
		Header:                 rec.Header(),
		Body:                   io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
		Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
	}
	if err := openapi3filter.ValidateResponse(context.Background(), in); err != nil {
		t.Errorf("%s %s answered %d, not as openapi.yaml says:\n%v\nbody: %.2000s", req.Method, req.URL, rec.Code, err, rec.Body.String())
	}
}

func TestOpenAPIDocumentIsValidAndPublic(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not a valid OpenAPI 3 document: %v", err)
	}

	s := New(Deps{}) // no credentials, no collector: the document needs neither
	e := echo.New()
	s.Routes(e)
	rec := httptest.NewRecorder()
	e.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /api/v1/openapi.json: %d %s", rec.Code, rec.Body)
	}
	var served struct {
		OpenAPI string                     `json:"openapi"`
		Paths   map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &served); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	if served.OpenAPI == "" || len(served.Paths) != doc.Paths.Len() {
		t.Errorf("openapi.json serves version %q and %d paths; openapi.yaml has %d", served.OpenAPI, len(served.Paths), doc.Paths.Len())
	}
}

// Every route of the JSON API, present and future, is in the document with its method, and the
// document describes no operation the router does not serve.
func TestOpenAPIDescribesEveryAPIRoute(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	e := echo.New()
	New(Deps{}).Routes(e)
	served := map[string]bool{}
	for _, r := range e.Routes() {
		path, ok := strings.CutPrefix(r.Path, "/api/v1/")
		if !ok || r.Method == echo.RouteNotFound || r.Method == http.MethodHead || r.Method == http.MethodOptions {
			continue
		}
		// Echo's :id is OpenAPI's {id}.
		parts := strings.Split(path, "/")
		for i, p := range parts {
			if name, ok := strings.CutPrefix(p, ":"); ok {
				parts[i] = "{" + name + "}"
			}
		}
		path = "/" + strings.Join(parts, "/")
		served[r.Method+" "+path] = true
		if path == "/openapi.json" {
			continue
		}
		item := doc.Paths.Value(path)
		if item == nil || item.GetOperation(r.Method) == nil {
			t.Errorf("%s /api/v1%s is served but not described in openapi.yaml", r.Method, path)
		}
	}
	if len(served) < 10 {
		t.Fatalf("only %d API routes found: %v", len(served), served)
	}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			if !served[method+" "+path] {
				t.Errorf("openapi.yaml describes %s %s, which the router does not serve", method, path)
			}
		}
	}
}

// The report's open_alerts is null while the database is away, and an alert list otherwise: the
// document says both, in the form OpenAPI 3.0 (and Redocly's nullable-type-sibling) reads.
func TestReportOpenAlertsIsANullableAlertList(t *testing.T) {
	doc, err := loadOpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	schema := doc.Components.Schemas["Report"].Value.Properties["open_alerts"].Value
	if err := schema.VisitJSON(nil); err != nil {
		t.Errorf("null open_alerts refused: %v", err)
	}
	if err := schema.VisitJSON(map[string]any{"alerts": []any{}, "total": 0.0}); err != nil {
		t.Errorf("an empty alert list refused: %v", err)
	}
	if err := schema.VisitJSON(map[string]any{"total": "many"}); err == nil {
		t.Error("an open_alerts that is no alert list was accepted")
	}
}
