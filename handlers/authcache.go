package handlers

import (
	"crypto/sha256"
	"sync"
	"time"
)

// A credential the database confirmed is trusted from authCache for authCacheTTL, so a poll
// costs no authentication query. Past that it is checked again; while the database cannot be
// reached, a credential it confirmed before keeps working, however long ago that was, so the
// dashboard and the live API keep answering from the in-memory snapshot through an outage
// (PRODUCT.md §3). The first check after the database is back applies whatever changed
// meanwhile. Logout, token revocation and password changes made through this process evict at
// once; one made by another replica or by the `user` command takes effect here within
// authCacheTTL.
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
	p Principal
	// fresh is when the check is due again; until then the database is not asked.
	fresh time.Time
	// notAfter is when the credential itself ends (the session's or token's expiry); zero for
	// no end. Past it the entry is never used, outage or not.
	notAfter time.Time
}

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{now: now, entries: make(map[[sha256.Size]byte]authEntry)}
}

// get returns the principal a credential proved, and whether that check is still fresh. A
// stale one is for when the database cannot check it again.
func (a *authCache) get(credential string) (p *Principal, fresh, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(credential))
	e, ok := a.entries[k]
	if !ok {
		return nil, false, false
	}
	now := a.now()
	if !e.notAfter.IsZero() && !now.Before(e.notAfter) {
		delete(a.entries, k)
		return nil, false, false
	}
	pc := e.p
	return &pc, now.Before(e.fresh), true
}

// put remembers p, fresh for authCacheTTL and usable until notAfter (zero: no end). A full
// cache first drops the entries whose credential ended, then arbitrary ones: a dropped entry
// costs one database query, never a wrong answer.
func (a *authCache) put(credential string, p Principal, notAfter time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := a.now()
	if len(a.entries) >= authCacheSize {
		for k, e := range a.entries {
			if !e.notAfter.IsZero() && !now.Before(e.notAfter) {
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
	a.entries[sha256.Sum256([]byte(credential))] = authEntry{p: p, fresh: now.Add(authCacheTTL), notAfter: notAfter}
}

// evict forgets one credential.
func (a *authCache) evict(credential string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, sha256.Sum256([]byte(credential)))
}
