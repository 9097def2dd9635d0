package handlers

import (
	_ "embed"
	"encoding/json"
	"fmt"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
)

// openapiYAML is the hand-written OpenAPI 3 document of the JSON API. Tests validate real
// responses against it, so it cannot drift from what the handlers answer.
//
//go:embed openapi.yaml
var openapiYAML []byte

// mustOpenAPIJSON converts the embedded document to JSON once at start; a document that does
// not load is a build mistake the tests catch, never a runtime condition.
func mustOpenAPIJSON() []byte {
	doc, err := loadOpenAPI()
	if err != nil {
		panic(err)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		panic(fmt.Errorf("openapi.yaml: %w", err))
	}
	return b
}

func loadOpenAPI() (*openapi3.T, error) {
	doc, err := openapi3.NewLoader().LoadFromData(openapiYAML)
	if err != nil {
		return nil, fmt.Errorf("openapi.yaml: %w", err)
	}
	return doc, nil
}

// showOpenAPI serves the document; it is public so clients can be generated without a login.
func (s *Server) showOpenAPI(c echo.Context) error {
	return c.Blob(200, echo.MIMEApplicationJSON, s.openapi)
}
