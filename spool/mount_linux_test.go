package spool

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// envMountNS tells a test binary that it runs in the mount namespace inMountNamespace made.
const envMountNS = "SPOOL_TEST_IN_MOUNT_NAMESPACE"

// inMountNamespace runs the calling test again in a child process with a mount namespace of
// its own, so that what it mounts vanishes with that process whatever happens to it (a panic,
// a timeout, kill -9): no test can leave a mount behind. It returns true in the child, where
// the test goes on, and false in the parent once it has checked that the child passed.
func inMountNamespace(t *testing.T) bool {
	t.Helper()
	if os.Getenv(envMountNS) != "" {
		if err := syscall.Mount("", "/", "", syscall.MS_REC|syscall.MS_PRIVATE, ""); err != nil {
			t.Fatalf("make the mounts of this namespace private: %v", err)
		}
		return true
	}
	cmd := exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$", "-test.count=1", "-test.v")
	cmd.Env = append(os.Environ(), envMountNS+"=1")
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNS}
	if uid, gid := os.Geteuid(), os.Getegid(); uid != 0 {
		// Not root: a user namespace of its own lets the child mount a tmpfs.
		cmd.SysProcAttr.Cloneflags |= syscall.CLONE_NEWUSER
		cmd.SysProcAttr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: uid, Size: 1}}
		cmd.SysProcAttr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: gid, Size: 1}}
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !bytes.Contains(out, []byte("--- PASS: "+t.Name())) {
		t.Fatalf("%s in a mount namespace of its own: %v\n%s", t.Name(), err, out)
	}
	return false
}

// mountTmpfs mounts a tmpfs of the given size ("256k") and returns its folder.
func mountTmpfs(t *testing.T, size string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "fs")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

func remount(t *testing.T, dir, size string, readOnly bool) {
	t.Helper()
	flags := uintptr(syscall.MS_REMOUNT)
	if readOnly {
		flags |= syscall.MS_RDONLY
	}
	if err := syscall.Mount("tmpfs", dir, "tmpfs", flags, "size="+size); err != nil {
		t.Fatalf("remount %s (read-only %v): %v", dir, readOnly, err)
	}
}

// bigPayload is payload(seq) grown to 5,000 bytes, the size of a sample.
func bigPayload(seq uint64) []byte {
	b := payload(seq)
	return append(b, bytes.Repeat([]byte{'.'}, 5000-len(b))...)
}

// A disk that fills before MaxBytes does is met as MaxBytes is: the oldest segment goes, counted
// and said once, and the newest sample is stored.
func TestDiskFullDropsTheOldest(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	fs := mountTmpfs(t, "256k")
	if err := os.WriteFile(filepath.Join(fs, "filler"), make([]byte, 64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(fs, "spool")
	log, lb := newLogger()
	o := Options{MaxBytes: 16 << 20, SegmentBytes: 64 << 10, Logger: log}
	s := openT(t, dir, o)
	const n = 100 // 500 KB of records on a disk with 192 KiB free
	for seq := uint64(1); seq <= n; seq++ {
		if got, err := s.Append(bigPayload(seq)); err != nil || got != seq {
			t.Fatalf("Append %d on a full disk with older segments to drop: %d, %v", seq, got, err)
		}
	}
	st := s.Stats()
	if st.Dropped == 0 || st.Records != n-int(st.Dropped) {
		t.Fatalf("after filling the disk: %+v, want the oldest dropped and counted", st)
	}
	check := func(s *Spool) {
		t.Helper()
		recs := peekAll(t, s)
		if len(recs) != n-int(st.Dropped) || recs[len(recs)-1].Seq != n {
			t.Fatalf("%d records, the last %v; want the newest %d, up to %d", len(recs), recs[len(recs)-1].Seq, n-int(st.Dropped), n)
		}
		for i, r := range recs {
			if r.Seq != st.Dropped+1+uint64(i) || !bytes.Equal(r.Data, bigPayload(r.Seq)) {
				t.Fatalf("record %d reads back wrong", r.Seq)
			}
		}
	}
	check(s)
	if w := lb.warns("the disk is full, dropping the oldest records", "no space left"); len(w) != 1 {
		t.Fatalf("want one WARN saying the disk is full and the oldest go, log:\n%s", lb)
	}
	closeT(t, s)
	// Nothing of the writes the disk refused stayed behind.
	s = openT(t, dir, o)
	if st2 := s.Stats(); st2.Torn != 0 || st2.Corrupt != 0 {
		t.Fatalf("reopened after the disk filled: %+v", st2)
	}
	check(s)
	closeT(t, s)
}

// A disk too small for even the newest segment leaves nothing older to drop: Append says the disk
// is full, keeps nothing half-written, and works again as soon as there is room.
func TestDiskFullWithNothingToDrop(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	fs := mountTmpfs(t, "64k")
	filler := filepath.Join(fs, "filler")
	if err := os.WriteFile(filler, make([]byte, 16<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(fs, "spool")
	log, lb := newLogger()
	o := Options{MaxBytes: 16 << 20, SegmentBytes: 128 << 10, Logger: log}
	s := openT(t, dir, o)
	var stored uint64
	var err error
	for stored < 100 {
		if _, err = s.Append(bigPayload(stored + 1)); err != nil {
			break
		}
		stored++
	}
	if !errors.Is(err, syscall.ENOSPC) || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("Append on a full disk after %d records: %v, want an error saying no space is left", stored, err)
	}
	if _, err := s.Append(bigPayload(stored + 1)); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("second Append on a full disk: %v", err)
	}
	var onDisk int64
	for _, f := range segmentFiles(t, dir) {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		onDisk += fi.Size()
	}
	if st := s.Stats(); onDisk != st.DiskBytes || st.DiskBytes != int64(stored)*(headerSize+5000) || st.Dropped != 0 {
		t.Fatalf("after the failed Appends the segments hold %d bytes, want %d records of %d bytes (Stats %+v)",
			onDisk, stored, headerSize+5000, st)
	}
	closeT(t, s)
	s = openT(t, dir, o)
	if st := s.Stats(); st.Torn != 0 || st.Corrupt != 0 || st.Records != int(stored) {
		t.Fatalf("reopened after the disk filled: %+v, want %d whole records", st, stored)
	}
	if err := os.Remove(filler); err != nil {
		t.Fatal(err)
	}
	if seq, err := s.Append(bigPayload(stored + 1)); err != nil || seq != stored+1 {
		t.Fatalf("Append once there is room again: seq %d, %v; want %d", seq, err, stored+1)
	}
	if recs := peekAll(t, s); len(recs) != int(stored)+1 {
		t.Fatalf("%d records after the disk had room again, want %d", len(recs), stored+1)
	}
	closeT(t, s)
	if len(lb.warns()) != 0 {
		t.Fatalf("a full disk with nothing to drop is the appender's to report; the spool logged:\n%s", lb)
	}
}

func TestReadOnlyFolder(t *testing.T) {
	if !inMountNamespace(t) {
		return
	}
	fs := mountTmpfs(t, "1m")
	dir := filepath.Join(fs, "spool")
	s := openT(t, dir, Options{})
	appendRange(t, s, 1, 10)
	if err := s.Ack(3); err != nil {
		t.Fatal(err)
	}
	closeT(t, s)
	seg := segmentFiles(t, dir)[0]
	fi, err := os.Stat(seg)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(seg, fi.Size()-7); err != nil { // a crash tore record 10
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(fs, "empty"), 0o700); err != nil {
		t.Fatal(err)
	}
	remount(t, fs, "1m", true)

	log, lb := newLogger()
	s = openT(t, dir, Options{Logger: log})
	if w := lb.warns("not writable", "read-only file system"); len(w) != 1 {
		t.Fatalf("want one WARN saying the folder is not writable, log:\n%s", lb)
	}
	if w := lb.warns("torn", seg); len(w) != 1 {
		t.Fatalf("want one WARN about the torn record, log:\n%s", lb)
	}
	if st := s.Stats(); st.Torn != 1 || st.Records != 6 {
		t.Fatalf("read-only: %+v, want Torn 1 and 6 records", st)
	}
	wantRecords(t, peekAll(t, s), seqRange(4, 9))
	_, err = s.Append(payload(10))
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "read-only file system") {
		t.Fatalf("Append to a read-only folder: %v, want an error saying it is read-only", err)
	}
	err = s.Ack(6)
	if !errors.Is(err, syscall.EROFS) || !strings.Contains(err.Error(), "in memory only") {
		t.Fatalf("Ack in a read-only folder: %v, want an error saying it was not saved", err)
	}
	wantRecords(t, peekAll(t, s), seqRange(7, 9))
	if fi2, err := os.Stat(seg); err != nil || fi2.Size() != fi.Size()-7 {
		t.Fatalf("the read-only segment changed (%v)", err)
	}

	// A read-only folder with no spool yet opens empty; a missing one cannot be made.
	empty := openT(t, filepath.Join(fs, "empty"), Options{})
	if _, err := empty.Append([]byte("x")); !errors.Is(err, syscall.EROFS) {
		t.Fatalf("Append to an empty read-only folder: %v", err)
	}
	closeT(t, empty)
	if _, err := Open(filepath.Join(fs, "missing"), Options{}); !errors.Is(err, syscall.EROFS) ||
		!strings.Contains(err.Error(), "create folder") {
		t.Fatalf("Open of a folder that cannot be created: %v", err)
	}

	// Writable again: the same Spool stores records, without a restart.
	remount(t, fs, "1m", false)
	appendRange(t, s, 10, 11)
	closeT(t, s)
	s = openT(t, dir, Options{})
	if st := s.Stats(); st.Torn != 0 {
		t.Fatalf("the torn record was not cut once the folder was writable: %+v", st)
	}
	// Ack(6) was in memory only, so 4..6 come again; the hub stores them once.
	wantRecords(t, peekAll(t, s), seqRange(4, 11))
}
