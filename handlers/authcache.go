package handlers

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Credentials stay valid in authCache for authCacheTTL after the database last confirmed them, so
// the dashboard and the live API keep answering from the in-memory snapshot while PostgreSQL is
// down (PRODUCT.md §3), and a poll costs no authentication query. Logout, token revocation and
// password changes made through this process evict at once; one made by another replica or by
// the `user` command takes effect here within authCacheTTL.
const (
	authCacheTTL  = time.Minute
	authCacheSize = 4096
)

// authCache maps the SHA-256 of a bearer token or session token to the principal it proved.
// Keys are hashes so that a dump of memory holds no usable credential.
type authCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[[sha256.Size]byte]authEntry
}

type authEntry struct {
	p       Principal
	expires time.Time
}

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{now: now, entries: make(map[[sha256.Size]byte]authEntry)}
}

func (a *authCache) get(credential string) (*Principal, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(credential))
	e, ok := a.entries[k]
	if !ok {
		return nil, false
	}
	if !a.now().Before(e.expires) {
		delete(a.entries, k)
		return nil, false
	}
	p := e.p
	return &p, true
}

// put remembers p until authCacheTTL from now, or until notAfter if that is sooner (a session's
// own expiry). A full cache first drops expired entries, then arbitrary ones: a dropped entry
// costs one database query, never a wrong answer.
func (a *authCache) put(credential string, p Principal, notAfter time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	expires := now.Add(authCacheTTL)
	if !notAfter.IsZero() && notAfter.Before(expires) {
		expires = notAfter
	}
	if len(a.entries) >= authCacheSize {
		for k, e := range a.entries {
			if !now.Before(e.expires) {
				delete(a.entries, k)
			}
		}
		for k := range a.entries {
			if len(a.entries) < authCacheSize {
				break
			}
			delete(a.entries, k)
		}
	}
	a.entries[sha256.Sum256([]byte(credential))] = authEntry{p: p, expires: expires}
}

// evict forgets one credential.
func (a *authCache) evict(credential string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, sha256.Sum256([]byte(credential)))
}
