package handlers

import (
	"crypto/sha256"
	"sync"
	"time"
)

// Every request's credential is checked in the database, so that a revoked token, a disabled
// account, a new password, a new role or a logout takes effect on every replica at once (one
// indexed query: auth.Store.TokenOwner, or auth.Store.SessionUser for a session seen before).
//
// authCache keeps what the last check of each credential proved, for three things. While the
// database cannot be reached, a credential it confirmed before keeps working, however long ago
// that was, so the dashboard and the live API keep answering from the in-memory snapshot through
// an outage (PRODUCT.md §3); the first check after the database is back applies whatever changed
// meanwhile. A session seen before is checked again without loading it (its user and login time
// are here). And the addresses a token was used from on this replica are here, so noting a new
// one (the audit log's token.new_address) costs a query the first time only.
const (
	authCacheSize = 4096
	// maxAddressesPerToken bounds what an entry remembers: past it, a token used from yet another
	// address is noted again in the database each time, which is correct, only slower.
	maxAddressesPerToken = 16
)

// authCache maps the SHA-256 of a bearer token or session token to what its last check proved.
// Keys are hashes so that a dump of memory holds no usable credential.
type authCache struct {
	mu      sync.Mutex
	now     func() time.Time
	entries map[[sha256.Size]byte]*authEntry
}

// authEntry is what a check of a credential proved.
type authEntry struct {
	p Principal
	// notAfter is when the credential itself ends (the session's or token's expiry); zero for
	// no end. Past it the entry is never used, outage or not.
	notAfter time.Time
	// loggedInAt is when a session logged in (sessions only): with p.UserID, what SessionUser
	// checks it by.
	loggedInAt time.Time
	// addresses a token was used from, noted in the database by this replica.
	addresses map[string]bool
}

func newAuthCache(now func() time.Time) *authCache {
	return &authCache{now: now, entries: make(map[[sha256.Size]byte]*authEntry)}
}

// get returns a copy of what the last check of a credential proved.
func (a *authCache) get(credential string) (authEntry, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(credential))
	e, ok := a.entries[k]
	if !ok {
		return authEntry{}, false
	}
	if !e.notAfter.IsZero() && !a.now().Before(e.notAfter) {
		delete(a.entries, k)
		return authEntry{}, false
	}
	return *e, true
}

// put remembers what a check proved, keeping the addresses already noted. A full cache first
// drops the entries whose credential ended, then arbitrary ones: a dropped entry costs a slower
// check, never a wrong answer.
func (a *authCache) put(credential string, e authEntry) {
	a.mu.Lock()
	defer a.mu.Unlock()
	k := sha256.Sum256([]byte(credential))
	if old, ok := a.entries[k]; ok {
		e.addresses = old.addresses
		*old = e
		return
	}
	if len(a.entries) >= authCacheSize {
		now := a.now()
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
	a.entries[k] = &e
}

// noted reports whether this replica already noted a use of the credential from address.
func (a *authCache) noted(credential, address string) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[sha256.Sum256([]byte(credential))]
	return ok && e.addresses[address]
}

// note remembers that a use of the credential from address is in the database.
func (a *authCache) note(credential, address string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	e, ok := a.entries[sha256.Sum256([]byte(credential))]
	if !ok || len(e.addresses) >= maxAddressesPerToken {
		return
	}
	if e.addresses == nil {
		e.addresses = map[string]bool{}
	}
	e.addresses[address] = true
}

// evict forgets one credential.
func (a *authCache) evict(credential string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.entries, sha256.Sum256([]byte(credential)))
}
