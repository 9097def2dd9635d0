// Package telemetrytest lets tests see what would be sent to Sentry: pass a Transport as
// telemetry.ReporterOptions.Transport, with any well-formed DSN.
package telemetrytest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/getsentry/sentry-go"
)

// DSN is a well-formed DSN that reaches nothing; the Transport gets the events instead.
const DSN = "https://public@sentry.example.com/1"

// Transport keeps the events a Reporter would send.
type Transport struct {
	mu     sync.Mutex
	events []*sentry.Event
}

func (f *Transport) Configure(sentry.ClientOptions)        {}
func (f *Transport) Flush(time.Duration) bool              { return true }
func (f *Transport) FlushWithContext(context.Context) bool { return true }
func (f *Transport) Close()                                {}

// SendEvent keeps e.
func (f *Transport) SendEvent(e *sentry.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
}

// Events are the events kept so far.
func (f *Transport) Events() []*sentry.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]*sentry.Event(nil), f.events...)
}

// WaitFor waits until n events are kept and returns them; it fails the test after a minute.
func (f *Transport) WaitFor(t testing.TB, n int) []*sentry.Event {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		if es := f.Events(); len(es) >= n {
			return es
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d events for Sentry, got %d after a minute", n, len(f.Events()))
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Text is everything an event says about what went wrong: its message and its exceptions.
func Text(e *sentry.Event) string {
	s := e.Message
	for _, x := range e.Exception {
		s += " " + x.Value
	}
	return s
}

// Functions are the function names of the event's stack traces, innermost last.
func Functions(e *sentry.Event) []string {
	var out []string
	add := func(st *sentry.Stacktrace) {
		if st == nil {
			return
		}
		for _, f := range st.Frames {
			out = append(out, f.Module+"."+f.Function)
		}
	}
	for _, x := range e.Exception {
		add(x.Stacktrace)
	}
	for _, th := range e.Threads {
		add(th.Stacktrace)
	}
	return out
}
