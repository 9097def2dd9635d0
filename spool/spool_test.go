package spool

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// logBuf collects what a Spool logs, so tests can count its WARN lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// warns returns the WARN lines that contain every one of parts.
func (l *logBuf) warns(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if !strings.Contains(line, "level=WARN") {
			continue
		}
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger() (*slog.Logger, *logBuf) {
	lb := &logBuf{}
	return slog.New(slog.NewTextHandler(lb, nil)), lb
}

func openT(t testing.TB, dir string, o Options) *Spool {
	t.Helper()
	s, err := Open(dir, o)
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func closeT(t testing.TB, s *Spool) {
	t.Helper()
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

// payload is the data the tests store as record seq: its length varies with seq, and it
// names seq, so a record read back under the wrong number is noticed.
func payload(seq uint64) []byte {
	b := fmt.Appendf(nil, "record %d:", seq)
	for i := range 40 + int(seq%97) {
		b = append(b, byte('a'+(int(seq)+i)%26))
	}
	return b
}

// appendRange appends the payloads of from..to and checks that they get those numbers.
func appendRange(t testing.TB, s *Spool, from, to uint64) {
	t.Helper()
	for seq := from; seq <= to; seq++ {
		got, err := s.Append(payload(seq))
		if err != nil {
			t.Fatalf("Append record %d: %v", seq, err)
		}
		if got != seq {
			t.Fatalf("Append returned seq %d, want %d", got, seq)
		}
	}
}

func peekAll(t testing.TB, s *Spool) []Record {
	t.Helper()
	recs, err := s.Peek(math.MaxInt, math.MaxInt)
	if err != nil {
		t.Fatalf("Peek: %v", err)
	}
	return recs
}

func seqs(recs []Record) []uint64 {
	out := make([]uint64, len(recs))
	for i, r := range recs {
		out[i] = r.Seq
	}
	return out
}

func seqRange(from, to uint64) []uint64 {
	var out []uint64
	for s := from; s <= to; s++ {
		out = append(out, s)
	}
	return out
}

// wantRecords checks that recs are exactly the payloads of want, in order.
func wantRecords(t testing.TB, recs []Record, want []uint64) {
	t.Helper()
	if !slices.Equal(seqs(recs), want) {
		t.Fatalf("records %v, want %v", seqs(recs), want)
	}
	for _, r := range recs {
		if !bytes.Equal(r.Data, payload(r.Seq)) {
			t.Fatalf("record %d holds %q, want %q", r.Seq, r.Data, payload(r.Seq))
		}
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*"+segmentExt))
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(files)
	return files
}

// copyDir copies the files of a spool folder, for tests that damage one copy per iteration.
func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o700); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestAppendPeekAck(t *testing.T) {
	s := openT(t, t.TempDir(), Options{})
	if st := s.Stats(); st != (Stats{}) {
		t.Fatalf("a new spool has stats %+v, want all zero", st)
	}
	if recs := peekAll(t, s); len(recs) != 0 {
		t.Fatalf("a new spool has records %v", seqs(recs))
	}
	appendRange(t, s, 1, 10)

	recs, err := s.Peek(3, math.MaxInt)
	if err != nil {
		t.Fatal(err)
	}
	wantRecords(t, recs, seqRange(1, 3))
	if recs, _ = s.Peek(100, 0); len(recs) != 1 || recs[0].Seq != 1 {
		t.Fatalf("Peek with maxBytes 0 returned %v, want the oldest record alone", seqs(recs))
	}
	two := len(payload(1)) + len(payload(2))
	if recs, _ = s.Peek(100, two); !slices.Equal(seqs(recs), []uint64{1, 2}) {
		t.Fatalf("Peek with room for two records returned %v", seqs(recs))
	}
	if recs, _ = s.Peek(100, two-1); !slices.Equal(seqs(recs), []uint64{1}) {
		t.Fatalf("Peek with room for one and a half records returned %v", seqs(recs))
	}
	if _, err := s.Peek(0, 100); err == nil {
		t.Fatal("Peek of 0 records: no error")
	}

	if err := s.Ack(3); err != nil {
		t.Fatal(err)
	}
	wantRecords(t, peekAll(t, s), seqRange(4, 10))
	st := s.Stats()
	if st.Records != 7 || st.OldestSeq != 4 || st.NewestSeq != 10 {
		t.Fatalf("after Ack(3): %+v, want 7 records 4..10", st)
	}
	var bytes7 int64
	for seq := uint64(4); seq <= 10; seq++ {
		bytes7 += headerSize + int64(len(payload(seq)))
	}
	if st.Bytes != bytes7 {
		t.Fatalf("Stats.Bytes %d, want %d", st.Bytes, bytes7)
	}
	if err := s.Ack(2); err != nil {
		t.Fatalf("Ack of an older position: %v", err)
	}
	if err := s.Ack(11); err == nil || !strings.Contains(err.Error(), "newest record is 10") {
		t.Fatalf("Ack past the newest record: %v, want an error naming the newest record", err)
	}
	if err := s.Ack(10); err != nil {
		t.Fatal(err)
	}
	if recs := peekAll(t, s); len(recs) != 0 {
		t.Fatalf("after acknowledging everything: records %v", seqs(recs))
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 || st.OldestSeq != 0 || st.NewestSeq != 0 {
		t.Fatalf("after acknowledging everything: %+v", st)
	}
	closeT(t, s)
	if _, err := s.Append(nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v, want ErrClosed", err)
	}
}

func TestRestartKeepsUnackedAndForgetsAcked(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{})
	appendRange(t, s, 1, 10)
	if err := s.Ack(4); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)

	s = openT(t, dir, Options{})
	wantRecords(t, peekAll(t, s), seqRange(5, 10))
	appendRange(t, s, 11, 11)
	if err := s.Ack(11); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)

	s = openT(t, dir, Options{})
	if recs := peekAll(t, s); len(recs) != 0 {
		t.Fatalf("after a restart, acknowledged records are back: %v", seqs(recs))
	}
	appendRange(t, s, 12, 12)
}

func TestSecondOpenIsRefused(t *testing.T) {
	dir := t.TempDir()
	openT(t, dir, Options{})
	if _, err := Open(dir, Options{}); !errors.Is(err, ErrInUse) {
		t.Fatalf("second Open of one folder: %v, want ErrInUse", err)
	}
}

func TestSequenceNumbersIncreaseAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	o := Options{MaxBytes: 64 << 10, SegmentBytes: 1 << 10, NoSync: true}
	var last uint64
	for round := range 30 {
		s := openT(t, dir, o)
		recs := peekAll(t, s)
		for _, r := range recs {
			if r.Seq > last {
				t.Fatalf("round %d: record %d was never appended (last was %d)", round, r.Seq, last)
			}
		}
		for range 1 + round%7 {
			seq, err := s.Append(payload(last + 1))
			if err != nil {
				t.Fatal(err)
			}
			if seq <= last {
				t.Fatalf("round %d: Append returned %d after %d", round, seq, last)
			}
			last = seq
		}
		if round%3 != 2 {
			if err := s.Ack(last); err != nil {
				t.Fatal(err)
			}
		}
		closeT(t, s)
		switch round % 5 {
		case 3: // the ack file lost: resends, but numbering must go on
			if err := os.Remove(filepath.Join(dir, ackName)); err != nil && !errors.Is(err, os.ErrNotExist) {
				t.Fatal(err)
			}
		case 4: // the ack file damaged
			if err := os.WriteFile(filepath.Join(dir, ackName), []byte("ack 99x"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n := len(segmentFiles(t, dir)); n > 64 {
		t.Fatalf("%d segment files left after everything was acknowledged many times", n)
	}
}

func TestDamagedAckFileResendsAndSaysSo(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 1, 5)
	if err := s.Ack(3); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	ackFile := filepath.Join(dir, ackName)
	b, err := os.ReadFile(ackFile)
	if err != nil {
		t.Fatal(err)
	}
	if want := formatAck(3); !bytes.Equal(b, want) || !strings.HasPrefix(string(b), "ack 3 crc32c=") {
		t.Fatalf("ack file holds %q, want %q", b, want)
	}
	b[len("ack ")] = '2' // still digits, wrong checksum
	if err := os.WriteFile(ackFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	log, lb := newLogger()
	s = openT(t, dir, Options{NoSync: true, Logger: log})
	wantRecords(t, peekAll(t, s), seqRange(1, 5))
	if w := lb.warns("acknowledged position unreadable", ackFile); len(w) != 1 {
		t.Fatalf("want one WARN naming the damaged ack file, log:\n%s", lb)
	}
	appendRange(t, s, 6, 6)
}

func TestTornTailIsCut(t *testing.T) {
	pristine := t.TempDir()
	s := openT(t, pristine, Options{NoSync: true})
	appendRange(t, s, 1, 5)
	closeT(t, s)
	files := segmentFiles(t, pristine)
	if len(files) != 1 {
		t.Fatalf("segments %v, want one", files)
	}
	fi, err := os.Stat(files[0])
	if err != nil {
		t.Fatal(err)
	}
	frame := headerSize + int64(len(payload(5)))
	start := fi.Size() - frame

	for cut := int64(1); cut < frame; cut++ {
		dir := filepath.Join(t.TempDir(), "spool")
		copyDir(t, pristine, dir)
		seg := filepath.Join(dir, filepath.Base(files[0]))
		if err := os.Truncate(seg, start+cut); err != nil {
			t.Fatal(err)
		}
		log, lb := newLogger()
		s := openT(t, dir, Options{NoSync: true, Logger: log})
		if st := s.Stats(); st.Torn != 1 || st.Corrupt != 0 || st.Records != 4 {
			t.Fatalf("last record cut after %d of %d bytes: stats %+v, want Torn 1 and 4 records", cut, frame, st)
		}
		wantRecords(t, peekAll(t, s), seqRange(1, 4))
		if w := lb.warns("torn", seg, fmt.Sprintf("bytes=%d", cut)); len(w) != 1 || len(lb.warns()) != 1 {
			t.Fatalf("cut after %d bytes: want one WARN naming %s and bytes=%d, log:\n%s", cut, seg, cut, lb)
		}
		if fi, err := os.Stat(seg); err != nil || fi.Size() != start {
			t.Fatalf("cut after %d bytes: segment is %d bytes after Open, want %d (%v)", cut, fi.Size(), start, err)
		}
		appendRange(t, s, 5, 6)
		closeT(t, s)

		s = openT(t, dir, Options{NoSync: true})
		if st := s.Stats(); st.Torn != 0 || st.Records != 6 {
			t.Fatalf("second Open after the cut: %+v, want no torn record and 6 records", st)
		}
		wantRecords(t, peekAll(t, s), seqRange(1, 6))
		closeT(t, s)
	}
}

func TestZeroFilledTailIsCut(t *testing.T) {
	// After a power loss a file can come back longer than what was written, the rest zeros.
	dir := t.TempDir()
	s := openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 1, 3)
	closeT(t, s)
	seg := segmentFiles(t, dir)[0]
	f, err := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s = openT(t, dir, Options{NoSync: true})
	if st := s.Stats(); st.Torn != 1 || st.Records != 3 {
		t.Fatalf("stats %+v, want Torn 1 and 3 records", st)
	}
	wantRecords(t, peekAll(t, s), seqRange(1, 3))
}

// middleSpool writes 60 records into segments of about 1 KiB and returns the folder and the
// frames of the segment in the middle.
func middleSpool(t *testing.T) (dir, seg string, frames []entry, first uint64) {
	t.Helper()
	dir = t.TempDir()
	s := openT(t, dir, Options{SegmentBytes: 1 << 10, NoSync: true})
	appendRange(t, s, 1, 60)
	s.mu.Lock()
	g := s.segs[len(s.segs)/2]
	seg, frames, first = g.path, slices.Clone(g.recs), g.first
	n := len(s.segs)
	s.mu.Unlock()
	closeT(t, s)
	if n < 3 || len(frames) < 3 {
		t.Fatalf("%d segments, %d records in the middle one: the test needs more", n, len(frames))
	}
	return dir, seg, frames, first
}

func TestFlippedByteInMiddleSegment(t *testing.T) {
	pristine, seg, frames, first := middleSpool(t)
	// every byte of a record in the middle of the segment, and of the segment's last record
	for _, victim := range []int{1, len(frames) - 1} {
		e := frames[victim]
		lost := first + uint64(e.delta)
		for at := int64(0); at < e.frameLen(); at++ {
			dir := filepath.Join(t.TempDir(), "spool")
			copyDir(t, pristine, dir)
			path := filepath.Join(dir, filepath.Base(seg))
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[int64(e.off)+at] ^= 0x5a
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
			log, lb := newLogger()
			s := openT(t, dir, Options{SegmentBytes: 1 << 10, NoSync: true, Logger: log})
			want := slices.DeleteFunc(seqRange(1, 60), func(s uint64) bool { return s == lost })
			wantRecords(t, peekAll(t, s), want)
			if st := s.Stats(); st.Corrupt != 1 || st.Torn != 0 {
				t.Fatalf("byte %d of record %d flipped: stats %+v, want Corrupt 1, Torn 0", at, lost, st)
			}
			if w := lb.warns("corrupt", path, "records_lost=1"); len(w) != 1 || len(lb.warns()) != 1 {
				t.Fatalf("byte %d of record %d flipped: want one WARN naming %s, log:\n%s", at, lost, path, lb)
			}
			if fi, err := os.Stat(path); err != nil || fi.Size() != int64(len(b)) {
				t.Fatalf("an older segment was rewritten at Open (%v)", err)
			}
			appendRange(t, s, 61, 61)
			closeT(t, s)
		}
	}
}

func TestGarbageMiddleSegmentLosesOnlyIt(t *testing.T) {
	dir, seg, frames, first := middleSpool(t)
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	garbage := bytes.Repeat([]byte{0xff, 0x00, 0x13}, int(fi.Size())/3+1)[:fi.Size()]
	if err := os.WriteFile(seg, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	s := openT(t, dir, Options{SegmentBytes: 1 << 10, NoSync: true})
	last := first + uint64(frames[len(frames)-1].delta)
	want := slices.DeleteFunc(seqRange(1, 60), func(s uint64) bool { return s >= first && s <= last })
	wantRecords(t, peekAll(t, s), want)
	if st := s.Stats(); st.Corrupt != 1 {
		t.Fatalf("stats %+v, want Corrupt 1", st)
	}
}

func TestCorruptRecordInNewestSegmentIsSkippedNotCut(t *testing.T) {
	dir := t.TempDir()
	s := openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 1, 5)
	closeT(t, s)
	seg := segmentFiles(t, dir)[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	off := 2*headerSize + len(payload(1)) + len(payload(2)) + headerSize + 3 // data of record 3
	b[off] ^= 1
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{NoSync: true})
	wantRecords(t, peekAll(t, s), []uint64{1, 2, 4, 5})
	if st := s.Stats(); st.Corrupt != 1 || st.Torn != 0 {
		t.Fatalf("stats %+v, want Corrupt 1, Torn 0", st)
	}
	appendRange(t, s, 6, 6)
	closeT(t, s)
	s = openT(t, dir, Options{NoSync: true})
	wantRecords(t, peekAll(t, s), []uint64{1, 2, 4, 5, 6})
}

func TestNestedFrameDoesNotFoolResync(t *testing.T) {
	// Record 3 holds a well-framed record of its own, numbered 1000. When record 3's header
	// rots, resynchronising must not take the nested frame for the next record, or every
	// record after it would look out of order and be lost.
	dir := t.TempDir()
	s := openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 1, 2)
	nested := appendFrame(nil, 1000, payload(1000))
	if _, err := s.Append(nested); err != nil {
		t.Fatal(err)
	}
	appendRange(t, s, 4, 6)
	closeT(t, s)
	seg := segmentFiles(t, dir)[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[2*headerSize+len(payload(1))+len(payload(2))+4] ^= 0xff // record 3's length
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{NoSync: true})
	wantRecords(t, peekAll(t, s), []uint64{1, 2, 4, 5, 6})
}

func TestAckAheadOfNewestSegmentKeepsNumbering(t *testing.T) {
	// Everything acknowledged, then the last record rots: Open cuts it, and the ack position
	// is now past the segment's last record. The next record must still read back.
	dir := t.TempDir()
	s := openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 1, 10)
	if err := s.Ack(10); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	seg := segmentFiles(t, dir)[0]
	b, err := os.ReadFile(seg)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 1
	if err := os.WriteFile(seg, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openT(t, dir, Options{NoSync: true})
	appendRange(t, s, 11, 12)
	closeT(t, s)
	s = openT(t, dir, Options{NoSync: true})
	wantRecords(t, peekAll(t, s), []uint64{11, 12})
}

func TestPeekSkipsRecordDamagedSinceOpen(t *testing.T) {
	dir := t.TempDir()
	log, lb := newLogger()
	s := openT(t, dir, Options{NoSync: true, Logger: log})
	appendRange(t, s, 1, 5)
	seg := segmentFiles(t, dir)[0]
	f, err := os.OpenFile(seg, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(2*headerSize+len(payload(1))+len(payload(2))) + headerSize
	if _, err := f.WriteAt([]byte{'#'}, off); err != nil {
		t.Fatal(err)
	}
	f.Close()
	wantRecords(t, peekAll(t, s), []uint64{1, 2, 4, 5})
	if st := s.Stats(); st.Corrupt != 1 || st.Records != 4 {
		t.Fatalf("stats %+v, want Corrupt 1 and 4 records", st)
	}
	if w := lb.warns("damaged", "seq=3"); len(w) != 1 {
		t.Fatalf("want one WARN about record 3, log:\n%s", lb)
	}
	wantRecords(t, peekAll(t, s), []uint64{1, 2, 4, 5})
}

func TestOtherFilesAreLeftAlone(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{"notes.txt": "mine", "12.seg": "not a segment name"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	log, lb := newLogger()
	s := openT(t, dir, Options{NoSync: true, Logger: log})
	appendRange(t, s, 1, 2)
	if w := lb.warns("not a segment", "12.seg"); len(w) != 1 {
		t.Fatalf("want one WARN about 12.seg, log:\n%s", lb)
	}
	for _, name := range []string{"notes.txt", "12.seg"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

func TestBoundDropsOldest(t *testing.T) {
	dir := t.TempDir()
	log, lb := newLogger()
	o := Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, NoSync: true, Logger: log}
	s := openT(t, dir, o)
	data := bytes.Repeat([]byte("x"), 1000)
	const n = 200
	for i := 1; i <= n; i++ {
		if _, err := s.Append(data); err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.DiskBytes > o.MaxBytes {
			t.Fatalf("after %d records the spool holds %d bytes, more than MaxBytes %d", i, st.DiskBytes, o.MaxBytes)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 || uint64(st.Records)+st.Dropped != n || st.NewestSeq != n {
		t.Fatalf("stats %+v: want records dropped, Records+Dropped = %d, newest %d", st, n, n)
	}
	if !slices.Equal(seqs(peekAll(t, s)), seqRange(st.OldestSeq, n)) {
		t.Fatalf("the kept records are not the newest %d in a row", st.Records)
	}
	var onDisk int64
	for _, f := range segmentFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if onDisk > o.MaxBytes || onDisk != st.DiskBytes {
		t.Fatalf("segment files hold %d bytes; Stats.DiskBytes %d, MaxBytes %d", onDisk, st.DiskBytes, o.MaxBytes)
	}
	if w := lb.warns("dropping"); len(w) != 1 {
		t.Fatalf("want one WARN while dropping, got %d:\n%s", len(w), lb)
	}

	// Once the sender has caught up, the next outage is told again.
	if err := s.Ack(n); err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := s.Append(data); err != nil {
			t.Fatal(err)
		}
	}
	if w := lb.warns("dropping"); len(w) != 2 {
		t.Fatalf("want a second WARN after the spool drained and filled again, got %d:\n%s", len(w), lb)
	}
	closeT(t, s)

	s = openT(t, dir, Options{MaxBytes: 64 << 10, SegmentBytes: 8 << 10, NoSync: true})
	if st2 := s.Stats(); st2.NewestSeq != 2*n || st2.Records == 0 {
		t.Fatalf("after a restart: %+v, want the newest record %d kept", st2, 2*n)
	}
}

func TestRecordLargerThanSpoolIsRefused(t *testing.T) {
	s := openT(t, t.TempDir(), Options{MaxBytes: 64 << 10, NoSync: true})
	_, err := s.Append(make([]byte, 64<<10))
	if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "65536") {
		t.Fatalf("Append of a record as big as MaxBytes: %v, want ErrTooLarge naming the bound", err)
	}
	if _, err := s.Append(make([]byte, 64<<10-headerSize)); err != nil {
		t.Fatalf("the largest record that fits: %v", err)
	}
	if st := s.Stats(); st.Records != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestOptions(t *testing.T) {
	for _, c := range []struct {
		in      Options
		segment int64
		err     string
	}{
		{Options{}, 4 << 20, ""},
		{Options{MaxBytes: 16 << 20}, 1 << 20, ""},
		{Options{MaxBytes: 256 << 10}, 64 << 10, ""},
		{Options{MaxBytes: 32 << 10}, 32 << 10, ""},
		{Options{MaxBytes: -1}, 0, "MaxBytes -1 is negative"},
		{Options{SegmentBytes: -1}, 0, "SegmentBytes -1 is negative"},
		{Options{MaxBytes: 1 << 20, SegmentBytes: 2 << 20}, 0, "more than MaxBytes"},
	} {
		o, err := c.in.withDefaults()
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%+v: error %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || o.SegmentBytes != c.segment {
			t.Errorf("%+v: SegmentBytes %d (%v), want %d", c.in, o.SegmentBytes, err, c.segment)
		}
	}
}

func TestConcurrentAppendAndSend(t *testing.T) {
	s := openT(t, t.TempDir(), Options{MaxBytes: 64 << 20, SegmentBytes: 64 << 10, NoSync: true})
	const n = 3000
	appendErr := make(chan error, 1)
	go func() {
		for seq := uint64(1); seq <= n; seq++ {
			if _, err := s.Append(payload(seq)); err != nil {
				appendErr <- err
				return
			}
		}
		appendErr <- nil
	}()
	var got []Record
	deadline := time.Now().Add(time.Minute)
	for uint64(len(got)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("the sender got %d of %d records within a minute", len(got), n)
		}
		recs, err := s.Peek(50, 16<<10)
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		got = append(got, recs...)
		if err := s.Ack(recs[len(recs)-1].Seq); err != nil {
			t.Fatal(err)
		}
		_ = s.Stats()
	}
	if err := <-appendErr; err != nil {
		t.Fatal(err)
	}
	wantRecords(t, got, seqRange(1, n))
	if st := s.Stats(); st.Records != 0 {
		t.Fatalf("stats %+v after everything was acknowledged", st)
	}
}

// TestFrameFormat pins the documented layout, which operators and other tools may rely on.
func TestFrameFormat(t *testing.T) {
	got := appendFrame(nil, 0x0102030405060708, []byte("hi"))
	want := []byte{0, 0, 0, 0, 2, 0, 0, 0, 8, 7, 6, 5, 4, 3, 2, 1, 'h', 'i'}
	if !bytes.Equal(got[4:], want[4:]) {
		t.Fatalf("frame % x, want % x after the checksum", got, want)
	}
	if !frameOK(got, 0x0102030405060708) {
		t.Fatal("frameOK refuses a frame appendFrame wrote")
	}
	if segmentName(42) != "00000000000000000042.seg" {
		t.Fatalf("segment name %q", segmentName(42))
	}
}
