package agent

import (
	"bufio"
	"os"
	"strconv"
	"strings"
	"testing"
)

// The binary's pages the test process mapped while starting leave its RSS; the code that runs
// afterwards is faulted back and works.
func TestReleaseStartupPagesGivesBackTheBinarysPages(t *testing.T) {
	before := rssFileKB(t)
	if err := ReleaseStartupPages(); err != nil {
		t.Fatal(err)
	}
	after := rssFileKB(t)
	t.Logf("RssFile %d kB before, %d kB after", before, after)
	if after > before/2 {
		t.Errorf("RssFile went from %d kB to %d kB; the binary's start-up pages should have gone", before, after)
	}
}

func rssFileKB(t *testing.T) int {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
