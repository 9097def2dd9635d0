package handlers

import (
	"errors"
	"net"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/infradash/infradash/sample"
)

// maxBodyBytes caps every request body.
const maxBodyBytes = 1 << 20

// contentSecurityPolicy allows nothing inline and nothing from elsewhere: scripts, styles and
// images come from /static (images may also be data: URLs), and no site may frame the pages.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

var (
	errBodyTooLarge = &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the request body is larger than 1 MiB"}
	errCrossOrigin  = &Error{Status: http.StatusForbidden, Code: "cross_origin_request",
		Message: "cross-origin request refused: a browser request that changes something must come from this site's own pages"}
)

// securityHeaders go on every answer, errors included.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	production := s.cfg.Production
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if production {
			h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
		}
		return next(c)
	}
}

// limitBody refuses a body over maxBodyBytes: at once when Content-Length says so, otherwise when
// reading passes the limit (decodeJSON and form parsing turn that into errBodyTooLarge).
// Ingest takes larger bodies (a catching-up agent's batch, sample.MaxBodyBytes) and names its own
// bound in its 413.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		limit, tooLarge := int64(maxBodyBytes), error(errBodyTooLarge)
		if r.URL.Path == PathIngest {
			limit, tooLarge = sample.MaxBodyBytes, errBatchTooLarge
		}
		if r.ContentLength > limit {
			return tooLarge
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, limit)
		}
		return next(c)
	}
}

// isBodyTooLarge reports whether err comes from reading past maxBodyBytes.
func isBodyTooLarge(err error) bool {
	var mbe *http.MaxBytesError
	return errors.As(err, &mbe)
}

// clientAddress says who a request comes from (the per-address login limit, the logs): the TCP
// peer, or, when the peer is one of the trusted proxies (TRUSTED_PROXIES), the nearest address
// in X-Forwarded-For that is not one of them. Nobody else's forwarding header is believed, or a
// client could reset its own login limit and forge addresses in the log.
func clientAddress(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// crossOriginProtection refuses state-changing browser requests from other sites (Go's
// Fetch-metadata check, no tokens in forms). Bearer-token requests are exempt: they carry no
// ambient credential a foreign page could borrow.
func (s *Server) crossOriginProtection() echo.MiddlewareFunc {
	cop := http.NewCrossOriginProtection()
	// BASE_URL is this site, also when a proxy in front rewrites the Host header. The
	// configuration refuses one that is not a bare origin, which is all this accepts.
	if s.cfg.BaseURL != "" {
		if err := cop.AddTrustedOrigin(s.cfg.BaseURL); err != nil {
			s.log.Error("BASE_URL is not trusted as this site's origin", "base_url", s.cfg.BaseURL, "err", err)
		}
	}
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if _, ok := bearerToken(c.Request()); ok {
				return next(c)
			}
			if err := cop.Check(c.Request()); err != nil {
				return errCrossOrigin
			}
			return next(c)
		}
	}
}

// cors lets the configured origins call /api/v1 from their pages; with none configured there is
// no CORS at all (same origin only). A preflight is answered here, before any login, with the
// methods the router has for the path, as in Allow.
func (s *Server) cors() echo.MiddlewareFunc {
	cors := middleware.CORSWithConfig(middleware.CORSConfig{
		Skipper:      func(c echo.Context) bool { return !strings.HasPrefix(c.Request().URL.Path, "/api/v1/") },
		AllowOrigins: s.cfg.CORSOrigins,
		AllowHeaders: []string{echo.HeaderAuthorization, echo.HeaderContentType},
		MaxAge:       600,
	})
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		h := cors(next)
		return func(c echo.Context) error {
			if c.Request().Method == http.MethodOptions {
				if allow := allowHeader(c); allow != "" {
					c.Set(echo.ContextKeyHeaderAllow, allow)
				}
			}
			return h(c)
		}
	}
}
