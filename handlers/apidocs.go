package handlers

import (
	"net/http"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/infradash/infradash/views"
)

// showAPIDocsPage renders the OpenAPI document for people, on the server: no script, no CDN,
// so it works under the strict Content-Security-Policy. Routes does not register it in
// production (spec §11).
func (s *Server) showAPIDocsPage(c echo.Context) error {
	doc, err := loadOpenAPI()
	if err != nil {
		return err
	}
	return s.render(c, http.StatusOK, views.APIDocsPage(s.page(c, "API"), apiDocs(doc)))
}

// apiDocs flattens the document into what the page lists, in path then method order.
func apiDocs(doc *openapi3.T) views.APIDocs {
	d := views.APIDocs{SpecURL: "/api/v1/openapi.json"}
	if doc.Info != nil {
		d.Title, d.Version, d.Description = doc.Info.Title, doc.Info.Version, doc.Info.Description
	}
	base := ""
	if len(doc.Servers) > 0 && strings.HasPrefix(doc.Servers[0].URL, "/") {
		base = strings.TrimRight(doc.Servers[0].URL, "/")
	}
	paths := doc.Paths.Keys()
	sort.Strings(paths)
	for _, path := range paths {
		item := doc.Paths.Value(path)
		ops := item.Operations()
		methods := make([]string, 0, len(ops))
		for m := range ops {
			methods = append(methods, m)
		}
		sort.Strings(methods)
		for _, m := range methods {
			op := ops[m]
			o := views.APIOperation{Method: m, Path: base + path, Summary: op.Summary, Description: op.Description}
			for _, ref := range append(append(openapi3.Parameters{}, item.Parameters...), op.Parameters...) {
				if p := ref.Value; p != nil {
					o.Parameters = append(o.Parameters, views.APIParameter{Name: p.Name, In: p.In, Required: p.Required, Description: p.Description})
				}
			}
			if op.Responses != nil {
				codes := op.Responses.Keys()
				sort.Strings(codes)
				for _, code := range codes {
					r := views.APIResponse{Code: code}
					if v := op.Responses.Value(code).Value; v != nil && v.Description != nil {
						r.Description = *v.Description
					}
					o.Responses = append(o.Responses, r)
				}
			}
			d.Operations = append(d.Operations, o)
		}
	}
	return d
}
