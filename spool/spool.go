package spool

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

const (
	// DefaultMaxBytes is the bound when Options.MaxBytes is 0 (AGENT_SPOOL_MAX_BYTES).
	DefaultMaxBytes = 256 << 20
	// MaxRecordBytes is the largest record data Append takes, whatever MaxBytes is.
	MaxRecordBytes = 1 << 30

	maxSegmentBytes = 1 << 30
	// maxSeq is far beyond any real sequence number (2^62 records). A segment name or an ack
	// position at or above maxStart comes from a damaged file; that leaves room for records
	// after any accepted one, so Append never runs out of numbers.
	maxSeq   = 1 << 62
	maxStart = maxSeq / 2

	segmentExt = ".seg"
	ackName    = "ack"
	ackTmpName = "ack.tmp"
	lockName   = "lock"
)

var (
	// ErrTooLarge: the record alone is bigger than the spool may hold.
	ErrTooLarge = errors.New("record larger than the spool may hold")
	// ErrClosed: the Spool was used after Close.
	ErrClosed = errors.New("spool closed")
	// ErrInUse: another process has the spool open.
	ErrInUse = errors.New("spool in use by another process")
)

// Options configure a Spool. The zero value is the production default.
type Options struct {
	MaxBytes     int64        // total bytes on disk before the oldest records are dropped (AGENT_SPOOL_MAX_BYTES, default 256 MiB)
	SegmentBytes int64        // a segment file is closed and a new one started past this (default: min(MaxBytes/16, 4 MiB), at least 64 KiB or MaxBytes)
	NoSync       bool         // tests only: skip fsync
	Logger       *slog.Logger // nil: discard
}

func (o Options) withDefaults() (Options, error) {
	if o.MaxBytes < 0 {
		return o, fmt.Errorf("spool: MaxBytes %d is negative", o.MaxBytes)
	}
	if o.MaxBytes == 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.SegmentBytes < 0 {
		return o, fmt.Errorf("spool: SegmentBytes %d is negative", o.SegmentBytes)
	}
	if o.SegmentBytes == 0 {
		o.SegmentBytes = max(min(o.MaxBytes/16, 4<<20), min(64<<10, o.MaxBytes))
	}
	if o.SegmentBytes > o.MaxBytes {
		return o, fmt.Errorf("spool: SegmentBytes %d is more than MaxBytes %d", o.SegmentBytes, o.MaxBytes)
	}
	if o.SegmentBytes > maxSegmentBytes {
		return o, fmt.Errorf("spool: SegmentBytes %d is more than %d", o.SegmentBytes, maxSegmentBytes)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// Record is one spooled record. Data belongs to the caller.
type Record struct {
	Seq  uint64
	Data []byte
}

// Stats describe the spool now. The counters count since Open.
type Stats struct {
	Records              int    // unacknowledged records
	Bytes                int64  // their frames on disk (data plus 16 bytes each)
	Dropped              uint64 // unacknowledged records dropped to stay within MaxBytes
	Torn                 uint64 // torn records cut from the end of the newest segment at Open
	OldestSeq, NewestSeq uint64 // of the unacknowledged records; 0 when there are none

	Corrupt   uint64 // corrupt stretches skipped (at Open, or found by Peek); each lost one or more records
	DiskBytes int64  // all segment files, acknowledged records included: what MaxBytes bounds
}

// segment is one segment file.
type segment struct {
	first uint64  // from the file name
	path  string  // the file
	size  int64   // bytes of the file that count: all of it, except a torn tail not cut yet
	last  uint64  // seq of its last record; first-1 when it has none
	recs  []entry // its unacknowledged records, oldest first
}

func (g *segment) seq(e entry) uint64 { return g.first + uint64(e.delta) }

// Spool is an on-disk queue of records. It is safe for concurrent use; the intended users are
// one goroutine that appends and one that peeks, sends and acknowledges.
type Spool struct {
	dir  string
	o    Options
	log  *slog.Logger
	lock *os.File // nil when the folder is read-only and holds no lock file

	mu       sync.Mutex
	closed   bool
	segs     []*segment // oldest first; the last one is the newest, the only one written
	w        *os.File   // the newest segment open for writing; nil until it can be (read-only folder, failed write)
	rd       *os.File   // read handle of rdSeg, kept between Peeks
	rdSeg    *segment
	next     uint64 // sequence number of the next record
	ack      uint64 // every record up to it is acknowledged
	disk     int64
	records  int
	bytes    int64
	dropped  uint64
	torn     uint64
	corrupt  uint64
	dropping bool // warned that records are being dropped; quiet until the spool drains
	buf      []byte
}

// Open opens the spool in dir, creating the folder (0700) if it is missing, and recovers from
// a crash: a torn record at the end of the newest segment is cut, corrupt records elsewhere
// are skipped, each counted and logged once.
//
// A folder that cannot be written (mounted read-only, no permission) still opens when it can
// be read: Peek works, Ack works in memory (its error says the position was not saved), and
// Append returns the reason, for example an error matching syscall.EROFS, until the folder is
// writable again; each Append tries again.
func Open(dir string, o Options) (*Spool, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("spool: create folder: %w", err)
	}
	lock, err := lockDir(dir)
	if err != nil {
		return nil, err
	}
	s := &Spool{dir: dir, o: o, log: o.Logger, lock: lock, next: 1}
	if err := s.recover(); err != nil {
		s.closeFiles()
		return nil, err
	}
	if err := s.openWriter(); err != nil {
		s.log.Warn("spool: folder not writable; spooled records can still be sent, new ones are refused until it is",
			"dir", dir, "err", err)
	}
	return s, nil
}

// recover builds the in-memory state from the files.
func (s *Spool) recover() error {
	// A leftover of a crash while saving the position; removing it fails harmlessly when read-only.
	_ = os.Remove(filepath.Join(s.dir, ackTmpName))
	ack, err := s.readAck()
	if err != nil {
		return err
	}
	s.ack = ack
	s.next = ack + 1

	ents, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, segmentExt) {
			continue
		}
		first, ok := parseSegmentName(name)
		if !ok || !e.Type().IsRegular() {
			s.log.Warn("spool: not a segment, left alone", "file", filepath.Join(s.dir, name))
			continue
		}
		s.segs = append(s.segs, &segment{first: first, path: filepath.Join(s.dir, name)})
	}
	slices.SortFunc(s.segs, func(a, b *segment) int { return compareUint64(a.first, b.first) })

	for i, g := range s.segs {
		newest := i == len(s.segs)-1
		limit := uint64(maxSeq)
		if !newest {
			limit = s.segs[i+1].first
		}
		res, size, err := scanFile(g, limit)
		if err != nil {
			return err
		}
		g.recs, g.size, g.last = res.recs, size, res.last
		s.next = max(s.next, g.first, res.last+1)
		if !newest && res.tail > 0 {
			// Older segments are never written again: a bad end is skipped like any corrupt
			// stretch, not cut, and the records it held run up to the next segment's first.
			res.regions++
			res.skipped += res.tail
			res.lost += limit - res.last - 1
			res.tail = 0
		}
		if res.regions > 0 {
			s.corrupt += uint64(res.regions)
			s.log.Warn("spool: skipped corrupt records", "file", g.path, "stretches", res.regions,
				"bytes", res.skipped, "records_lost", res.lost)
		}
		if res.tail == 0 {
			continue
		}
		s.torn++
		g.size = res.end
		if err := os.Truncate(g.path, res.end); err != nil {
			s.log.Warn("spool: torn record at the end of the newest segment, ignored (cut once the folder is writable)",
				"file", g.path, "bytes", res.tail, "err", err)
		} else {
			s.log.Warn("spool: cut a torn record at the end of the newest segment", "file", g.path,
				"offset", res.end, "bytes", res.tail)
		}
	}
	for _, g := range s.segs {
		s.disk += g.size
		s.records += len(g.recs)
		for _, e := range g.recs {
			s.bytes += e.frameLen()
		}
	}
	s.trim()
	return nil
}

func scanFile(g *segment, limit uint64) (scanned, int64, error) {
	f, err := os.Open(g.path)
	if err != nil {
		return scanned{}, 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return scanned{}, 0, fmt.Errorf("spool: %w", err)
	}
	res, err := scanSegment(f, fi.Size(), g.first, limit)
	if err != nil {
		return scanned{}, 0, fmt.Errorf("spool: read %s: %w", g.path, err)
	}
	return res, fi.Size(), nil
}

func (s *Spool) readAck() (uint64, error) {
	path := filepath.Join(s.dir, ackName)
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 64))
	if err != nil {
		return 0, fmt.Errorf("spool: read %s: %w", path, err)
	}
	seq, ok := parseAck(b)
	if !ok {
		s.log.Warn("spool: acknowledged position unreadable; the records still in the spool will be sent again",
			"file", path, "content", strconv.QuoteToASCII(string(b)))
	}
	return seq, nil
}

func segmentName(first uint64) string { return fmt.Sprintf("%020d%s", first, segmentExt) }

func parseSegmentName(name string) (uint64, bool) {
	digits, ok := strings.CutSuffix(name, segmentExt)
	if !ok || len(digits) != 20 || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	first, err := strconv.ParseUint(digits, 10, 64)
	if err != nil || first == 0 || first >= maxStart {
		return 0, false
	}
	return first, true
}

func compareUint64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// trim forgets the index entries of acknowledged records.
func (s *Spool) trim() {
	for _, g := range s.segs {
		k := 0
		for k < len(g.recs) && g.seq(g.recs[k]) <= s.ack {
			s.records--
			s.bytes -= g.recs[k].frameLen()
			k++
		}
		if k == len(g.recs) {
			g.recs = nil
			continue
		}
		g.recs = g.recs[k:]
		return
	}
}

func (s *Spool) newest() *segment { return s.segs[len(s.segs)-1] }

// openWriter opens the newest segment for appending, cutting a torn tail first, or starts the
// first segment.
func (s *Spool) openWriter() error {
	if len(s.segs) == 0 {
		return s.startSegment()
	}
	g := s.newest()
	f, err := os.OpenFile(g.path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err == nil && fi.Size() < g.size {
		err = fmt.Errorf("%s shrank from %d to %d bytes while open", g.path, g.size, fi.Size())
	}
	if err == nil && fi.Size() > g.size {
		// A torn tail not cut at Open, or the rest of a failed write. The next append's
		// fsync makes the cut durable together with the record.
		err = f.Truncate(g.size)
	}
	if err != nil {
		f.Close()
		return err
	}
	s.w = f
	return nil
}

// startSegment creates the segment that the next record starts and makes it the one written.
func (s *Spool) startSegment() error {
	g := &segment{first: s.next, last: s.next - 1, path: filepath.Join(s.dir, segmentName(s.next))}
	f, err := os.OpenFile(g.path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if err := s.syncDir(); err != nil {
		f.Close()
		os.Remove(g.path)
		return err
	}
	if s.w != nil {
		s.w.Close() // every record in it was synced when it was appended
	}
	s.w = f
	s.segs = append(s.segs, g)
	return nil
}

func (s *Spool) syncDir() error {
	if s.o.NoSync {
		return nil
	}
	d, err := os.Open(s.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Append stores one record and returns its sequence number. The record is on disk (fsync)
// before Append returns, unless Options.NoSync. When the spool would grow past MaxBytes, the
// oldest segments are dropped first, and so they are when the disk fills first. On an error
// (disk full with only the newest segment left, read-only folder) nothing of the record stays
// behind, and the error matches the system's (errors.Is(err, syscall.ENOSPC)).
func (s *Spool) Append(data []byte) (uint64, error) {
	frame := headerSize + int64(len(data))
	if len(data) > MaxRecordBytes || frame > s.o.MaxBytes {
		return 0, fmt.Errorf("spool: a record of %d bytes: %w (records of at most %d bytes fit in a spool of %d bytes, AGENT_SPOOL_MAX_BYTES)",
			len(data), ErrTooLarge, min(s.o.MaxBytes-headerSize, MaxRecordBytes), s.o.MaxBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	if s.next >= maxSeq {
		return 0, fmt.Errorf("spool %s: sequence numbers exhausted", s.dir)
	}
	if s.w == nil {
		if err := s.openWriter(); err != nil {
			return 0, fmt.Errorf("spool %s: cannot store records: %w", s.dir, err)
		}
	}
	// A segment holds consecutive sequence numbers only (Open relies on it to resynchronise), so
	// a record that does not follow the newest one (the ack file was ahead of it) starts a segment.
	if g := s.newest(); g.size > 0 && g.size+frame > s.o.SegmentBytes || g.last+1 != s.next {
		if err := s.startSegment(); err != nil {
			return 0, fmt.Errorf("spool %s: start a segment: %w", s.dir, err)
		}
		if err := s.deleteAcked(); err != nil {
			s.log.Warn("spool: could not delete an acknowledged segment", "err", err)
		}
	}
	if err := s.makeRoom(frame); err != nil {
		return 0, fmt.Errorf("spool %s: drop the oldest records: %w", s.dir, err)
	}

	g, seq := s.newest(), s.next
	s.buf = appendFrame(s.buf[:0], seq, data)
	err := s.write(g, s.buf)
	// The disk filled before MaxBytes did: the oldest records make room, as MaxBytes has them
	// do, rather than the newest being refused. A spool is fullest at the end of a long outage,
	// when the newest samples are the ones an operator wants, and a sample refused here would
	// only wait in the agent's memory, lost at the next restart.
	for err != nil && errors.Is(err, syscall.ENOSPC) && len(s.segs) > 1 && s.w != nil {
		if derr := s.dropOldest(err); derr != nil {
			break
		}
		err = s.write(g, s.buf)
	}
	if cap(s.buf) > 1<<20 {
		s.buf = nil // do not keep a big record's buffer
	}
	if err != nil {
		return 0, fmt.Errorf("spool %s: store record %d (%d bytes): %w", s.dir, seq, len(data), err)
	}
	g.recs = append(g.recs, entry{delta: uint32(seq - g.first), off: uint32(g.size), n: uint32(len(data))})
	g.size += frame
	g.last = seq
	s.disk += frame
	s.records++
	s.bytes += frame
	s.next++
	return seq, nil
}

// write puts one frame at the end of the newest segment, or nothing at all.
func (s *Spool) write(g *segment, frame []byte) error {
	_, err := s.w.WriteAt(frame, g.size)
	if err == nil && !s.o.NoSync {
		err = s.w.Sync()
	}
	if err != nil {
		if terr := s.w.Truncate(g.size); terr != nil {
			// openWriter cuts the rest before the next record is written.
			s.w.Close()
			s.w = nil
		}
	}
	return err
}

// makeRoom drops the oldest segments until a frame of n bytes fits within MaxBytes.
// The newest segment is never dropped: its name keeps sequence numbers monotonic.
func (s *Spool) makeRoom(n int64) error {
	for s.disk+n > s.o.MaxBytes && len(s.segs) > 1 {
		if err := s.dropOldest(nil); err != nil {
			return err
		}
	}
	return nil
}

// dropOldest deletes the oldest segment, counting its unacknowledged records as dropped, and
// warns once until the spool drains: for MaxBytes (diskErr nil) or because the disk is full.
func (s *Spool) dropOldest(diskErr error) error {
	g := s.segs[0]
	if err := s.removeOldest(); err != nil {
		return err
	}
	if len(g.recs) == 0 {
		return nil
	}
	s.dropped += uint64(len(g.recs))
	s.records -= len(g.recs)
	for _, e := range g.recs {
		s.bytes -= e.frameLen()
	}
	if !s.dropping {
		s.dropping = true
		attrs := []any{"dir", s.dir, "max_bytes", s.o.MaxBytes, "dropped", len(g.recs),
			"from_seq", g.seq(g.recs[0]), "to_seq", g.seq(g.recs[len(g.recs)-1])}
		msg := "spool: full, dropping the oldest records (said once until the spool drains)"
		if diskErr != nil {
			msg = "spool: the disk is full, dropping the oldest records (said once until the spool drains)"
			attrs = append(attrs, "disk_bytes", s.disk, "err", diskErr)
		}
		s.log.Warn(msg, attrs...)
	}
	return nil
}

func (s *Spool) removeOldest() error {
	g := s.segs[0]
	if s.rdSeg == g {
		s.rd.Close()
		s.rd, s.rdSeg = nil, nil
	}
	if err := os.Remove(g.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	s.disk -= g.size
	s.segs[0] = nil
	s.segs = s.segs[1:]
	return nil
}

// deleteAcked deletes the oldest segments while every record in them is acknowledged.
func (s *Spool) deleteAcked() error {
	for len(s.segs) > 1 && len(s.segs[0].recs) == 0 {
		if err := s.removeOldest(); err != nil {
			return err
		}
	}
	return nil
}

// Peek returns the oldest unacknowledged records, at most maxRecords of them and at most
// maxBytes of data, but always at least one if there is any. It does not remove them: Ack
// does. A record found damaged since Open is skipped, counted in Stats.Corrupt and logged.
func (s *Spool) Peek(maxRecords int, maxBytes int) ([]Record, error) {
	if maxRecords < 1 {
		return nil, fmt.Errorf("spool: Peek of %d records", maxRecords)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	var out []Record
	total := 0
	for _, g := range s.segs {
		k := 0
		for k < len(g.recs) && len(out)+k < maxRecords {
			n := int(g.recs[k].n)
			if len(out)+k > 0 && total+n > maxBytes {
				break
			}
			total += n
			k++
		}
		if k > 0 {
			recs, err := s.read(g, k)
			if err != nil {
				return nil, err
			}
			out = append(out, recs...)
		}
		if k < len(g.recs) {
			break // full: the next record belongs to this segment
		}
	}
	return out, nil
}

// read returns the first k records of g, read with one system call.
func (s *Spool) read(g *segment, k int) ([]Record, error) {
	if s.rdSeg != g {
		if s.rd != nil {
			s.rd.Close()
			s.rd, s.rdSeg = nil, nil
		}
		f, err := os.Open(g.path)
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.rd, s.rdSeg = f, g
	}
	from := int64(g.recs[0].off)
	to := int64(g.recs[k-1].off) + g.recs[k-1].frameLen()
	buf := make([]byte, to-from)
	if _, err := s.rd.ReadAt(buf, from); err != nil {
		return nil, fmt.Errorf("spool: read %s: %w", g.path, err)
	}
	out := make([]Record, 0, k)
	var bad []int
	for i, e := range g.recs[:k] {
		b := buf[int64(e.off)-from:][:e.frameLen()]
		if !frameOK(b, g.seq(e)) {
			bad = append(bad, i)
			continue
		}
		out = append(out, Record{Seq: g.seq(e), Data: b[headerSize:len(b):len(b)]})
	}
	for j := len(bad) - 1; j >= 0; j-- {
		e := g.recs[bad[j]]
		s.corrupt++
		s.records--
		s.bytes -= e.frameLen()
		s.log.Warn("spool: skipped a record damaged on disk since the spool was opened", "file", g.path,
			"offset", e.off, "seq", g.seq(e))
		g.recs = slices.Delete(g.recs, bad[j], bad[j]+1)
	}
	return out, nil
}

// Ack marks every record with Seq <= upTo as done. The position is saved (write, fsync, rename,
// fsync of the folder) before segments holding only acknowledged records are deleted, so a
// restart does not send them again. When it cannot be saved (read-only folder), the position
// still advances in memory and the error says so; after a restart those records are sent again.
func (s *Spool) Ack(upTo uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if upTo >= s.next {
		return fmt.Errorf("spool: ack of record %d, but the newest record is %d", upTo, s.next-1)
	}
	if upTo <= s.ack {
		return nil
	}
	s.ack = upTo
	s.trim()
	err := s.saveAck()
	if derr := s.deleteAcked(); derr != nil {
		s.log.Warn("spool: could not delete an acknowledged segment", "err", derr)
	} else if err != nil {
		err = s.saveAck() // deleting may have made room on a full disk
	}
	if s.dropping && s.bytes <= s.o.MaxBytes/2 {
		s.dropping = false
	}
	if err != nil {
		return fmt.Errorf("spool %s: acknowledged up to %d in memory only, not saved (after a restart they are sent again): %w",
			s.dir, upTo, err)
	}
	return nil
}

// saveAck writes the ack position with write-temp-then-rename.
func (s *Spool) saveAck() error {
	tmp := filepath.Join(s.dir, ackTmpName)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(formatAck(s.ack))
	if err == nil && !s.o.NoSync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(s.dir, ackName))
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return s.syncDir()
}

// Stats returns the counters.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: s.records, Bytes: s.bytes, Dropped: s.dropped, Torn: s.torn, Corrupt: s.corrupt, DiskBytes: s.disk}
	for _, g := range s.segs {
		if len(g.recs) > 0 {
			if st.OldestSeq == 0 {
				st.OldestSeq = g.seq(g.recs[0])
			}
			st.NewestSeq = g.seq(g.recs[len(g.recs)-1])
		}
	}
	return st
}

// Close closes the files and releases the spool for another process.
func (s *Spool) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.closeFiles()
}

func (s *Spool) closeFiles() error {
	var errs []error
	for _, f := range []*os.File{s.w, s.rd, s.lock} {
		if f != nil {
			errs = append(errs, f.Close())
		}
	}
	s.w, s.rd, s.rdSeg, s.lock = nil, nil, nil, nil
	return errors.Join(errs...)
}
