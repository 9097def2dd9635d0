package store

import (
	"context"
	"fmt"
	"sync"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/infradash/infradash/queries"
)

// maxCachedHosts bounds the host cache; past it the cache starts again empty.
const maxCachedHosts = 200_000

// hostCache knows which host an agent token (or, for the hub's own host, a name) belongs to, so
// that a group's write needs no lookup first. It is only a guess: WriteSamples checks every host
// against the hosts table as it writes, so a token rotated or removed on any replica is refused
// at once all the same, and is then forgotten here.
type hostCache struct {
	mu      sync.Mutex
	byToken map[string]queries.HostsForWritersRow
	byName  map[string]queries.HostsForWritersRow
}

// resolve finds the host of each batch of the group, looking up those the cache does not know
// in one query. A batch missing from the answer has no enrolled host.
func (c *hostCache) resolve(ctx context.Context, pool *pgxpool.Pool, group []*pending) (map[*pending]queries.HostsForWritersRow, error) {
	out := make(map[*pending]queries.HostsForWritersRow, len(group))
	var miss queries.HostsForWritersParams
	c.mu.Lock()
	for _, p := range group {
		if h, ok := c.get(p.w); ok {
			out[p] = h
		} else if p.w.TokenHash != nil {
			miss.TokenHashes = append(miss.TokenHashes, p.w.TokenHash)
		} else {
			miss.Names = append(miss.Names, p.w.Host)
		}
	}
	c.mu.Unlock()
	if len(miss.TokenHashes)+len(miss.Names) == 0 {
		return out, nil
	}
	found, err := queries.New(pool).HostsForWriters(ctx, miss)
	if err != nil {
		return nil, fmt.Errorf("store: find hosts: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.byName)+len(found) > maxCachedHosts || c.byName == nil {
		c.byToken = map[string]queries.HostsForWritersRow{}
		c.byName = map[string]queries.HostsForWritersRow{}
	}
	for _, h := range found {
		if h.TokenHash != nil {
			c.byToken[string(h.TokenHash)] = h
		}
		c.byName[h.Name] = h
	}
	for _, p := range group {
		if _, ok := out[p]; !ok {
			if h, ok := c.get(p.w); ok {
				out[p] = h
			}
		}
	}
	return out, nil
}

// get is the cached host of w; c.mu is held.
func (c *hostCache) get(w Writer) (queries.HostsForWritersRow, bool) {
	var h queries.HostsForWritersRow
	var ok bool
	if w.TokenHash != nil {
		h, ok = c.byToken[string(w.TokenHash)]
	} else {
		h, ok = c.byName[w.Host]
	}
	return h, ok
}

// forget drops w's host, which the database no longer has under this token or name.
func (c *hostCache) forget(w Writer) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.TokenHash != nil {
		delete(c.byToken, string(w.TokenHash))
	} else {
		delete(c.byName, w.Host)
	}
}
