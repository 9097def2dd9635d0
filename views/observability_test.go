package views

import (
	"context"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/infradash/infradash/sample"
)

// The disk card's percentage is used/(used+available), as df computes it; the space written
// under it must add up to it, so it names the available space (and the reserved blocks, which
// are neither) rather than only the size.
func TestDiskCardAddsUp(t *testing.T) {
	fs := sample.Filesystem{Mountpoint: "/", Device: "/dev/sda1", Fstype: "ext4",
		TotalBytes: 271_000_000_000, UsedBytes: 16_800_000_000, FreeBytes: 81_400_000_000, UsedPercent: 17.1}
	var b strings.Builder
	if err := filesystemCard(Live{}, fs).Render(context.Background(), &b); err != nil {
		t.Fatal(err)
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	got := doc.Find(`[data-testid="disk-space"]`).Text()
	want := "16.8 GB used · 81.4 GB available · 173 GB reserved · 271 GB in all"
	if got != want {
		t.Errorf("disk space %q, want %q", got, want)
	}
	if !strings.Contains(doc.Text(), "17.1 %") {
		t.Errorf("the card lost its percentage: %s", doc.Text())
	}
}
