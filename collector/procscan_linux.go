package collector

import (
	"bytes"
	"context"
	"os"
	"strconv"
	"syscall"

	"github.com/shirou/gopsutil/v4/cpu"
)

// scanProcesses reads one file per process, /proc/<pid>/stat, which holds
// both CPU times and resident size. gopsutil's Process would read stat,
// statm and status for the same facts; on a host with hundreds of processes
// every 5 s that difference is most of the collector's cost.
func scanProcesses(ctx context.Context, procDir string, out []procEntry) ([]procEntry, error) {
	d, err := os.Open(procDir)
	if err != nil {
		return out, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return out, err
	}
	pageSize := uint64(os.Getpagesize())
	var buf [1024]byte
	for _, name := range names {
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		pid, err := strconv.ParseInt(name, 10, 32)
		if err != nil {
			continue
		}
		n := readFile(procDir+"/"+name+"/stat", buf[:])
		if n <= 0 {
			continue // exited since the listing, or not ours to read
		}
		e, ok := parseStat(buf[:n])
		if !ok {
			continue
		}
		e.pid = int32(pid)
		e.rssBytes *= pageSize
		out = append(out, e)
	}
	return out, nil
}

// readFile avoids os.File and its allocations for a file read in one go.
func readFile(path string, buf []byte) int {
	fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return -1
	}
	defer syscall.Close(fd)
	n, err := syscall.Read(fd, buf)
	if err != nil {
		return -1
	}
	return n
}

// parseStat reads utime, stime, starttime and rss (in pages) from a
// /proc/<pid>/stat line. The command name may hold spaces and parentheses,
// so fields are counted from the last ')'.
func parseStat(b []byte) (procEntry, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procEntry{}, false
	}
	b = bytes.TrimRight(b[i+2:], "\n")
	var e procEntry
	var utime, stime uint64
	for field := 0; field <= 21 && len(b) > 0; field++ {
		j := bytes.IndexByte(b, ' ')
		if j < 0 {
			j = len(b)
		}
		f := b[:j]
		switch field {
		case 11:
			utime = parseUint(f)
		case 12:
			stime = parseUint(f)
		case 19:
			e.start = parseUint(f)
		case 21:
			e.rssBytes = parseUint(f)
			e.cpuSeconds = float64(utime+stime) / cpu.ClocksPerSec
			return e, true
		}
		if j == len(b) {
			break
		}
		b = b[j+1:]
	}
	return procEntry{}, false
}

func parseUint(b []byte) uint64 {
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0 // rss can be negative in theory; treat oddities as 0
		}
		v = v*10 + uint64(c-'0')
	}
	return v
}

// ownDescriptors counts this process's open file descriptors and, among them, its internet
// sockets (TCP or UDP, IPv4 or IPv6: what gopsutil's ConnectionsPid(..., "inet", pid) counts),
// from /proc/self/fd and the sockets' own SO_DOMAIN. ConnectionsPid parses the host's whole
// socket tables (/proc/net/tcp, tcp6, udp, udp6) to find ours: two thirds of an idle agent's
// CPU on a host with a few thousand sockets, and more the busier the host.
func ownDescriptors() (files, inet int, err error) {
	d, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0, 0, err
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, 0, err
	}
	for _, name := range names {
		fd, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		files++
		// Not a socket (ENOTSOCK), or closed since the listing (EBADF): not a connection.
		if domain, err := syscall.GetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_DOMAIN); err == nil &&
			(domain == syscall.AF_INET || domain == syscall.AF_INET6) {
			inet++
		}
	}
	return files - 1, inet, nil // the listing's own descriptor is not one of ours
}
