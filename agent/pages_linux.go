package agent

import (
	"bufio"
	"fmt"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// ReleaseStartupPages gives back the memory only start-up needed. The agent is a mode of the whole
// infradash binary: starting it runs the init code of every package the hub links, and the kernel
// maps 64 KiB of the binary around each page that code touches (fault-around), so 18 MB of a
// 26 MB binary end up in the agent's RSS where its loop needs a few. This drops the binary's
// read-only mappings from the process, turns read-ahead off on them, and evicts the binary's
// pages nobody maps from the page cache, so that later faults bring back, a page each, only what
// the loop touches. The memory is freed, not just moved: only pages another process maps (a hub
// started from the same file) stay cached.
func ReleaseStartupPages() error {
	exe, err := os.Open("/proc/self/exe")
	if err != nil {
		return err
	}
	defer exe.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(exe.Fd()), &st); err != nil {
		return err
	}
	dev := fmt.Sprintf("%02x:%02x", unix.Major(st.Dev), unix.Minor(st.Dev))
	ranges, err := readOnlyMappings(dev, st.Ino)
	if err != nil {
		return err
	}
	// The collection first, so that its walk over the heap and the binary's type data is over
	// before the pages go; it also returns the heap start-up left behind.
	debug.FreeOSMemory()
	// Twice: the first eviction misses pages the running goroutines fault back at once; a
	// second later they are mapped again from the smaller cache, a page at a time.
	for pass := range 2 {
		if pass > 0 {
			time.Sleep(time.Second)
		}
		for _, r := range ranges {
			for _, advice := range []uintptr{unix.MADV_RANDOM, unix.MADV_DONTNEED} {
				if _, _, errno := unix.Syscall(unix.SYS_MADVISE, r[0], r[1]-r[0], advice); errno != 0 {
					return fmt.Errorf("madvise %#x-%#x: %w", r[0], r[1], errno)
				}
			}
		}
		if err := unix.Fadvise(int(exe.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
			return fmt.Errorf("fadvise the binary: %w", err)
		}
	}
	return nil
}

// readOnlyMappings returns the address ranges of the read-only mappings of the file dev ino (as
// /proc/self/maps writes them): the binary's code and constant data. Its writable data stays.
func readOnlyMappings(dev string, ino uint64) ([][2]uintptr, error) {
	maps, err := os.Open("/proc/self/maps")
	if err != nil {
		return nil, err
	}
	defer maps.Close()
	var ranges [][2]uintptr
	sc := bufio.NewScanner(maps)
	for sc.Scan() {
		// 00400000-00fe4000 r-xp 00000000 fe:00 9988118   /usr/bin/infradash
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[3] != dev || f[4] != strconv.FormatUint(ino, 10) || strings.Contains(f[1], "w") {
			continue
		}
		lo, hi, _ := strings.Cut(f[0], "-")
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			return nil, fmt.Errorf("unexpected line in /proc/self/maps: %q", sc.Text())
		}
		ranges = append(ranges, [2]uintptr{uintptr(start), uintptr(end)})
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(ranges) == 0 {
		return nil, fmt.Errorf("the binary (%s inode %d) is not in /proc/self/maps", dev, ino)
	}
	return ranges, nil
}
