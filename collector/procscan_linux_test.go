package collector

import (
	"net"
	"os"
	"path/filepath"
	"testing"

	psnet "github.com/shirou/gopsutil/v4/net"
	"github.com/shirou/gopsutil/v4/process"
)

// ownDescriptors counts what gopsutil counts, without reading the host's socket tables: with a
// TCP listener, a connection to it (two sockets), a UDP socket and a Unix socket open, the
// internet sockets are those gopsutil finds for this process, and the descriptors count each
// file opened.
func TestOwnDescriptorsAgreeWithGopsutil(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	u, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	unix, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close()

	files, inet, err := ownDescriptors()
	if err != nil {
		t.Fatal(err)
	}
	conns, err := psnet.ConnectionsPidWithoutUids("inet", int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	if inet != len(conns) || inet < 4 {
		t.Errorf("%d internet sockets, gopsutil finds %d; want the same, at least the listener, both ends and the UDP socket", inet, len(conns))
	}
	p, err := process.NewProcess(int32(os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	n, err := p.NumFDs()
	if err != nil {
		t.Fatal(err)
	}
	// gopsutil counts the descriptor it lists /proc/PID/fd through as well.
	if files != int(n)-1 {
		t.Errorf("%d open descriptors, gopsutil counts %d with its own", files, n)
	}
	for range 3 {
		f, err := os.Open(os.DevNull)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
	}
	if more, _, err := ownDescriptors(); err != nil || more != files+3 {
		t.Errorf("after opening 3 files: %d descriptors (%v), want %d", more, err, files+3)
	}
}
