package handlers

import (
	"bytes"
	"compress/gzip"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/infradash/infradash/static"
)

func TestStaticFilesAreVersionedCachedAndGzipped(t *testing.T) {
	a := NewAssets()
	want, err := fs.ReadFile(static.FS, "app.css")
	if err != nil {
		t.Fatal(err)
	}
	get := func(url string, header ...string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, url, nil)
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		rec := httptest.NewRecorder()
		a.ServeHTTP(rec, req)
		return rec
	}

	url := a.URL("app.css")
	if !strings.HasPrefix(url, "/static/app.css?v=") {
		t.Fatalf("URL %q is not versioned", url)
	}
	rec := get(url)
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), want) {
		t.Fatalf("versioned GET: %d, %d bytes; want 200 and the file (%d bytes)", rec.Code, rec.Body.Len(), len(want))
	}
	if cc := rec.Header().Get("Cache-Control"); !strings.Contains(cc, "immutable") {
		t.Errorf("versioned URL Cache-Control %q, want immutable", cc)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/css") {
		t.Errorf("Content-Type %q", ct)
	}
	// An old or missing version must not be cached for a year: the file may have changed.
	if cc := get("/static/app.css?v=old").Header().Get("Cache-Control"); strings.Contains(cc, "immutable") {
		t.Errorf("stale version Cache-Control %q, want a short cache", cc)
	}

	rec = get(url, "Accept-Encoding", "gzip, br")
	if rec.Header().Get("Content-Encoding") != "gzip" {
		t.Fatalf("Accept-Encoding gzip: Content-Encoding %q", rec.Header().Get("Content-Encoding"))
	}
	zr, err := gzip.NewReader(rec.Body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(zr)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("gzipped body does not decompress to the file (%v)", err)
	}

	etag := rec.Header().Get("ETag")
	if rec := get(url, "If-None-Match", etag); etag == "" || rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
		t.Errorf("If-None-Match %q: %d with %d bytes, want 304 and no body", etag, rec.Code, rec.Body.Len())
	}
	if rec := get("/static/nothing.css"); rec.Code != http.StatusNotFound {
		t.Errorf("unknown file: %d, want 404", rec.Code)
	}
}
