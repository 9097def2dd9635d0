package handlers

import (
	"sync"
	"time"
)

// rateLimiter allows limit events per key in each fixed window, in memory. It guards the login
// routes per client address; a restart forgets it, which the per-account lock-out does not.
type rateLimiter struct {
	limit  int
	window time.Duration
	now    func() time.Time

	mu   sync.Mutex
	hits map[string]*rateWindow
}

type rateWindow struct {
	start time.Time
	n     int
}

// maxTrackedKeys bounds the map: past it, expired windows are swept on the next event.
const maxTrackedKeys = 4096

func newRateLimiter(limit int, window time.Duration, now func() time.Time) *rateLimiter {
	return &rateLimiter{limit: limit, window: window, now: now, hits: map[string]*rateWindow{}}
}

// allow counts an event for key; when the window is used up it says how long until it resets.
func (l *rateLimiter) allow(key string) (bool, time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.current(key, now)
	if w.n >= l.limit {
		return false, w.start.Add(l.window).Sub(now)
	}
	w.n++
	return true, 0
}

// count counts an event for key, with no limit, and returns how many the window holds.
func (l *rateLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	w := l.current(key, l.now())
	w.n++
	return w.n
}

// current returns key's current window, starting a new one when the last has passed. l.mu is held.
func (l *rateLimiter) current(key string, now time.Time) *rateWindow {
	if len(l.hits) >= maxTrackedKeys {
		for k, w := range l.hits {
			if now.Sub(w.start) >= l.window {
				delete(l.hits, k)
			}
		}
	}
	w := l.hits[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &rateWindow{start: now}
		l.hits[key] = w
	}
	return w
}
