package spool

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// envAppender makes the test binary the appender process TestKill9 kills, instead of running
// the tests; envAppenderNoSync makes it skip fsync, so that more kills land inside a write.
const (
	envAppender       = "SPOOL_TEST_APPENDER_DIR"
	envAppenderNoSync = "SPOOL_TEST_APPENDER_NOSYNC"
)

func TestMain(m *testing.M) {
	if dir := os.Getenv(envAppender); dir != "" {
		runAppender(dir, os.Getenv(envAppenderNoSync) != "")
	}
	os.Exit(m.Run())
}

func killOptions(noSync bool) Options {
	return Options{MaxBytes: 256 << 20, SegmentBytes: 256 << 10, NoSync: noSync}
}

// runAppender appends sealed records in a loop and now and then acknowledges all but the
// newest five, printing "appended N" and "acked N" once each call has returned, until killed.
func runAppender(dir string, noSync bool) {
	s, err := Open(dir, killOptions(noSync))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	var seed [32]byte
	binary.LittleEndian.PutUint64(seed[:], uint64(time.Now().UnixNano()))
	src := rand.NewChaCha8(seed)
	rng := rand.New(src)
	for i := 0; ; i++ {
		size := 100 + rng.IntN(8000)
		if rng.IntN(8) == 0 {
			// Big writes are the ones a kill can tear: the kernel stops a write between pages.
			size = 256<<10 + rng.IntN(1792<<10)
		}
		body := make([]byte, size)
		src.Read(body)
		seq, err := s.Append(seal(body))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(os.Stdout, "appended %d\n", seq)
		if i%16 == 15 && seq > 5 {
			if err := s.Ack(seq - 5); err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(2)
			}
			fmt.Fprintf(os.Stdout, "acked %d\n", seq-5)
		}
	}
}

// seal prefixes data with its SHA-256, so the test can tell a record's data is whole
// independently of the spool's own checksum.
func seal(data []byte) []byte {
	sum := sha256.Sum256(data)
	return append(sum[:], data...)
}

func sealed(b []byte) bool {
	if len(b) < sha256.Size {
		return false
	}
	sum := sha256.Sum256(b[sha256.Size:])
	return bytes.Equal(sum[:], b[:sha256.Size])
}

// TestKill9 kills a process that appends and acknowledges with SIGKILL at random moments and
// checks after each kill that the spool holds every record it confirmed and did not
// acknowledge, whole and numbered without a gap, and nothing it acknowledged.
func TestKill9(t *testing.T) {
	dir := t.TempDir()
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	var lastAppended, lastAcked, newest uint64
	var torn uint64
	const rounds = 10
	for round := range rounds {
		noSync := round%2 == 1
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), envAppender+"="+dir)
		if noSync {
			cmd.Env = append(cmd.Env, envAppenderNoSync+"=1")
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		lines := make(chan string)
		go func() {
			defer close(lines)
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				lines <- sc.Text()
			}
		}()
		firstSeen := false
		handle := func(line string) {
			verb, n, _ := strings.Cut(line, " ")
			seq, err := strconv.ParseUint(n, 10, 64)
			if err != nil {
				t.Errorf("appender printed %q", line)
				return
			}
			switch verb {
			case "appended":
				if !firstSeen && seq <= newest {
					t.Errorf("round %d: the restarted appender got seq %d, not above %d", round, seq, newest)
				}
				firstSeen = true
				lastAppended = seq
			case "acked":
				lastAcked = seq
			}
		}

		deadline := time.After(2 * time.Minute)
		select {
		case line, ok := <-lines:
			if !ok {
				cmd.Wait()
				t.Fatalf("round %d: the appender ended before appending: %s", round, stderr.String())
			}
			handle(line)
		case <-deadline:
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("round %d: the appender appended nothing within 2 minutes: %s", round, stderr.String())
		}
		kill := time.After(time.Duration(rng.IntN(400)) * time.Millisecond)
	running:
		for {
			select {
			case line, ok := <-lines:
				if !ok {
					break running
				}
				handle(line)
			case <-kill:
				break running
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		for line := range lines { // what it confirmed before it died
			handle(line)
		}
		if err := cmd.Wait(); err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("round %d: the appender was not killed but ended: %v\n%s", round, err, stderr.String())
		}

		log, lb := newLogger()
		o := killOptions(true)
		o.Logger = log
		s := openT(t, dir, o)
		st := s.Stats()
		torn += st.Torn
		if st.Torn > 1 || st.Corrupt != 0 {
			t.Fatalf("round %d: stats %+v after a kill, want at most one torn record and none corrupt", round, st)
		}
		recs := peekAll(t, s)
		if len(recs) == 0 {
			t.Fatalf("round %d: empty spool; confirmed up to %d, acknowledged up to %d", round, lastAppended, lastAcked)
		}
		for i, r := range recs {
			if !sealed(r.Data) {
				t.Fatalf("round %d: record %d reads back damaged", round, r.Seq)
			}
			if i > 0 && r.Seq != recs[i-1].Seq+1 {
				t.Fatalf("round %d: record %d follows %d", round, r.Seq, recs[i-1].Seq)
			}
		}
		oldest, newestNow := recs[0].Seq, recs[len(recs)-1].Seq
		// The appender acknowledges at most up to its newest record minus five, so the four
		// newest confirmed records can never have been acknowledged.
		mustHave := lastAcked + 1
		if lastAppended > 3 {
			mustHave = max(mustHave, lastAppended-3)
		}
		if oldest <= lastAcked || oldest > mustHave || newestNow < lastAppended || newestNow > lastAppended+1 {
			t.Fatalf("round %d: records %d..%d; confirmed up to %d, acknowledged up to %d",
				round, oldest, newestNow, lastAppended, lastAcked)
		}
		newest = newestNow
		if st.Torn == 1 && len(lb.warns("torn")) != 1 {
			t.Fatalf("round %d: a torn record without its WARN line:\n%s", round, lb)
		}
		closeT(t, s)
		t.Logf("round %d (fsync %v): killed after record %d; records %d..%d, torn %d",
			round, !noSync, lastAppended, oldest, newestNow, st.Torn)
	}
	t.Logf("%d kills, %d left a torn record", rounds, torn)
}
