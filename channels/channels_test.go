package channels_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/infradash/infradash/channels"
	"github.com/infradash/infradash/dbtest"
	"github.com/infradash/infradash/notify"
	"github.com/infradash/infradash/rules"
)

func TestMain(m *testing.M) { dbtest.Main(m) }

func TestSealedURLsOpenOnlyUnderTheirKey(t *testing.T) {
	a, _ := channels.NewBox("one secret key of enough length, 0123456789")
	b, _ := channels.NewBox("another secret key of enough length, 01234")
	sealed := a.Seal("https://hooks.slack.com/services/T1/B2/secret")
	if strings.Contains(string(sealed), "secret") {
		t.Fatal("the sealed URL holds the plain one")
	}
	if got, err := a.Open(sealed); err != nil || got != "https://hooks.slack.com/services/T1/B2/secret" {
		t.Fatalf("open: %q %v", got, err)
	}
	if _, err := b.Open(sealed); !errors.Is(err, channels.ErrUnreadable) {
		t.Fatalf("another key must not open it: %v", err)
	}
	sealed[len(sealed)-1] ^= 1
	if _, err := a.Open(sealed); !errors.Is(err, channels.ErrUnreadable) {
		t.Fatalf("an altered row must not open: %v", err)
	}
	if _, err := channels.NewBox(""); err == nil {
		t.Fatal("no key, no box")
	}
}

// A channel stored under one SECRET_KEY is unreadable under another: it is listed as such, sends
// nothing (its notices wait, failing with the reason), and a change must give its URL again.
func TestAChannelUnderAnotherKeyIsUnreadable(t *testing.T) {
	ctx := context.Background()
	pool := dbtest.Pool(t)
	got := make(chan string, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- string(b)
	}))
	defer srv.Close()
	a, _ := channels.NewBox("one secret key of enough length, 0123456789")
	st := channels.NewStore(pool, a, notify.Options{Backoff: time.Millisecond})
	ch, err := st.Create(ctx, pool, channels.Input{Name: "ops", URL: srv.URL + "/h/s3cret"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if ch.URL != "http://127.0.0.1:"+strings.Split(srv.URL, ":")[2]+"/[masked]" || ch.Kind != notify.KindWebhook {
		t.Fatalf("masked %q kind %s", ch.URL, ch.Kind)
	}
	loaded, err := st.Load(ctx)
	if err != nil || len(loaded) != 1 || loaded[0].Notifier == nil {
		t.Fatalf("load: %+v %v", loaded, err)
	}
	if r := loaded[0].Notifier.Send(ctx, notify.Message{Kind: notify.Test, At: time.Now()}); r.Err != nil {
		t.Fatal(r.Err)
	}
	if b := <-got; !strings.Contains(b, `"event":"test"`) {
		t.Fatalf("sent %s", b)
	}

	b, _ := channels.NewBox("another secret key of enough length, 01234")
	other := channels.NewStore(pool, b, notify.Options{})
	list, err := other.List(ctx, pool)
	if err != nil || len(list) != 1 || !list[0].Unreadable {
		t.Fatalf("listed as unreadable: %+v %v", list, err)
	}
	loaded, _ = other.Load(ctx)
	if loaded[0].Notifier != nil || !errors.Is(loaded[0].Err, channels.ErrUnreadable) {
		t.Fatalf("it sends nothing and says why: %+v", loaded[0])
	}
	var fe *rules.FieldError
	if _, _, err := other.Update(ctx, pool, ch.ID, channels.Input{Name: "ops"}, time.Now()); !errors.As(err, &fe) || fe.Field != "url" {
		t.Fatalf("a change must give the URL again: %v", err)
	}
	if _, after, err := other.Update(ctx, pool, ch.ID, channels.Input{Name: "ops", URL: srv.URL + "/h/new"}, time.Now()); err != nil || after.Unreadable {
		t.Fatalf("with its URL again it is readable: %+v %v", after, err)
	}
	if _, err := channels.NewStore(pool, nil, notify.Options{}).Create(ctx, pool, channels.Input{Name: "x", URL: srv.URL}, time.Now()); !errors.Is(err, channels.ErrNoKey) {
		t.Fatalf("without a key nothing is stored: %v", err)
	}
}

// A shoutrrr URL goes through shoutrrr: generic:// posts to a local stand-in.
func TestShoutrrrDelivers(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer srv.Close()
	raw := "generic://" + strings.TrimPrefix(srv.URL, "http://") + "/notify?disabletls=yes"
	if kind, err := notify.KindOf(raw); err != nil || kind != notify.KindShoutrrr {
		t.Fatalf("kind %s %v", kind, err)
	}
	n, err := notify.ForURL("chat", raw, notify.Options{Backoff: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	r := n.Send(context.Background(), notify.Message{Kind: notify.Opened, Host: "web-1", Metric: "cpu", Severity: "warning", Value: 91, Threshold: 80, At: time.Now()})
	if r.Err != nil || r.Notifier != "chat" {
		t.Fatalf("send: %+v", r)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bodies) != 1 || !strings.Contains(bodies[0], "cpu on web-1 at 91 %") {
		t.Fatalf("the stand-in got %q", bodies)
	}
	for _, bad := range []string{"gopher://x", "not a url", "https://", "discord://"} {
		if _, err := notify.ForURL("x", bad, notify.Options{}); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
