package handlers

import (
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/infradash/infradash/config"
)

// The document's descriptions are Markdown: its `code spans` show as code, never as backticks.
func TestAPIDocsRenderCodeSpans(t *testing.T) {
	rec := get(opsServer(t, config.Config{Environment: config.Development}, nil), "/api/docs")
	doc, err := goquery.NewDocumentFromReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	if text := doc.Find("main").Text(); strings.Contains(text, "`") {
		i := strings.Index(text, "`")
		t.Errorf("a backtick shows on /api/docs: %q", text[max(0, i-60):min(len(text), i+60)])
	}
	var codes []string
	doc.Find(`[data-testid="api-description"] code`).Each(func(_ int, s *goquery.Selection) { codes = append(codes, s.Text()) })
	if !strings.Contains(strings.Join(codes, "|"), "|_percent|") {
		t.Errorf("the description's code spans: %q, want _percent among them", codes)
	}
	if doc.Find(`[data-testid="responses"] code:contains("Retry-After")`).Length() == 0 {
		t.Error("a response description's `Retry-After` is not code")
	}
}
