// Package spool is the agent's on-disk queue of the samples the hub has not acknowledged yet:
// Append stores a record durably, Peek returns the oldest ones to send, Ack removes them once
// the hub has stored them. It is bounded (the oldest records go first) and survives kill -9 and
// power loss. It imports only the standard library.
//
// # Files
//
// A spool is one folder (0700, files 0600) holding:
//
//	00000000000000000001.seg   segments, named by the sequence number of their first record
//	00000000000000004097.seg   (20 digits); only the newest is ever written to
//	ack                        the acknowledged position: "ack 4100 crc32c=1a2b3c4d\n"
//	lock                       held with flock(2) while a process has the spool open
//
// A segment is a run of records, one frame each, integers little-endian:
//
//	offset  size  field
//	0       4     CRC-32C (Castagnoli) of bytes 4 to 16 and of the data
//	4       4     data length n
//	8       8     sequence number: 1, 2, 3, ..., one more than the record before
//	16      n     data (for the agent, one sample as it encodes it)
//
// A new segment is started when the next record would take the newest past SegmentBytes.
// Older segments are never written again, only deleted whole: when every record in them is
// acknowledged, or when the spool would grow past MaxBytes (the oldest first; they are counted
// in Stats.Dropped). The newest segment is never deleted, so its name keeps sequence numbers
// increasing even when the ack file is lost. In the ack file the checksum is CRC-32C of the
// text before the space ("ack 4100"); the file is replaced by writing ack.tmp, fsync, rename
// and fsync of the folder. To look at a spool: ls -l the folder, cat ack, and
// od -A d -t x1 FILE | head shows the frames of a segment.
//
// # Crash guarantees
//
//   - A record is on disk before Append returns (fsync of the segment, and of the folder when
//     a segment is created). A record that Append did not confirm is either absent or complete
//     after a crash; it never reads back half-written.
//   - Open cuts a torn record at the end of the newest segment (the process killed or the power
//     lost in the middle of a write), keeps every complete record before it, counts it in
//     Stats.Torn and logs one WARN line naming the file and the bytes cut.
//   - A corrupt record elsewhere (bit rot) costs that record only: Open resynchronises on the
//     next record whose checksum is right and whose sequence number fits, counts the stretch in
//     Stats.Corrupt and logs one WARN line per segment. Older segments are not rewritten.
//     Peek checks every checksum again and skips a record damaged since Open the same way.
//   - An acknowledged position is saved before any segment is deleted, so a restart does not
//     send acknowledged records again. Should the ack file be damaged, the records still in
//     the spool are sent again (the hub stores a re-sent sample once); none is lost.
//   - A disk that fills before MaxBytes does is met as MaxBytes is: Append deletes the oldest
//     segment (its records counted in Stats.Dropped, one WARN until the spool drains) and
//     stores the new record. Only when the newest segment alone fills the disk does Append fail.
//   - A failed Append (disk full with nothing older to drop, read-only folder) leaves nothing of
//     its record behind, and its error matches the system's: errors.Is(err, syscall.ENOSPC),
//     EROFS, EACCES. The next Append tries again.
//   - A folder that cannot be written but can be read still opens: Peek works, Ack advances in
//     memory and says it could not save the position, Append returns why it cannot store.
//   - Open never panics on any content of the folder; only read errors make it fail.
//
// Memory: 12 bytes per record on disk (an index, so that Peek reads only the records it
// returns), plus one 64 KiB buffer while opening.
package spool
