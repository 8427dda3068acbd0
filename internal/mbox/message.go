package mbox

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"hash"
	"strconv"

	"github.com/popadm/popadm/internal/crlf"
)

// pseudoSubject is the subject of the folder-internal message that UW
// c-client and Dovecot keep first in an mbox.
const pseudoSubject = "DON'T DELETE THIS MESSAGE -- FOLDER INTERNAL DATA"

// volatileHeaders are the header fields left out of the UIDL digest:
// those that mutt, Dovecot and c-client add or rewrite in place
// (mbox-spool.md §3.3). Keys are lower case.
var volatileHeaders = map[string]bool{
	"status":         true,
	"x-status":       true,
	"x-uid":          true,
	"x-imap":         true,
	"x-imapbase":     true,
	"x-keywords":     true,
	"content-length": true,
	"lines":          true,
	"x-uidl":         true,
}

// unit is one message of the spool and the bytes that belong to it.
type unit struct {
	start  int64 // first byte: the From_ line or the opening MMDF delimiter
	body   int64 // first byte of the message (the line after From_)
	end    int64 // end of the message bytes (exclusive)
	next   int64 // end of the unit: the next unit's start, or the scan end
	size   int64 // octets as transmitted
	digest [16]byte
	pseudo bool // the c-client/Dovecot folder-internal message
	mmdf   bool
}

// builder accumulates one unit while the scanner reads it.
type builder struct {
	u      unit
	h      hash.Hash // UIDL digest
	cnt    crlf.Counter
	skip   bool  // the current header field is left out of the digest
	cl     int64 // value of the first Content-Length field, -1 if none
	imap   bool  // an X-IMAP or X-IMAPbase field was seen
	pseudo bool  // the subject is pseudoSubject
	ended  bool
}

func newBuilder(start int64, mmdf bool) *builder {
	return &builder{u: unit{start: start, body: -1, mmdf: mmdf}, h: sha256.New(), cl: -1}
}

// fromLine feeds (part of) the From_ line: it is digested but not sent.
func (b *builder) fromLine(p []byte) { b.h.Write(p) }

// msg feeds message bytes; digest says whether they enter the digest.
func (b *builder) msg(p []byte, digest bool) {
	b.cnt.Add(p)
	if digest {
		b.h.Write(p)
	}
}

// headerLine feeds the first fragment of a header line. A continuation
// line (starting with white space) shares its field's fate.
func (b *builder) headerLine(p []byte) {
	if p[0] != ' ' && p[0] != '\t' {
		b.skip = false
		if name, value, ok := bytes.Cut(p, []byte{':'}); ok {
			key := string(bytes.ToLower(bytes.TrimRight(name, " \t")))
			b.skip = volatileHeaders[key]
			value = bytes.TrimSpace(value)
			switch key {
			case "content-length":
				if b.cl < 0 {
					if n, err := strconv.ParseInt(string(value), 10, 64); err == nil && n >= 0 {
						b.cl = n
					}
				}
			case "x-imap", "x-imapbase":
				b.imap = true
			case "subject":
				b.pseudo = string(value) == pseudoSubject
			}
		}
	}
	b.msg(p, !b.skip)
}

// finish ends the message bytes at end. A message that does not end in
// LF is digested as if it did, so that a later repair of the missing
// newline (Commit always leaves the file ending in a blank line) keeps
// its UIDL; it is transmitted with CRLF appended either way.
func (b *builder) finish(end int64) {
	if b.ended {
		return
	}
	b.ended = true
	if b.u.body < 0 {
		b.u.body = end
	}
	b.u.end = end
	if b.cnt.Stored() > 0 && !b.cnt.EndsInLF() {
		b.h.Write([]byte{'\n'})
	}
	b.u.size = b.cnt.Transmitted()
	copy(b.u.digest[:], b.h.Sum(nil))
}

// uidls turns digests into UIDLs: 32 lower-case hex digits (128 bits of
// SHA-256), with "-2", "-3"... appended to later copies of a digest in
// file order (Dovecot's pop3_uidl_duplicates = rename). A suffixed UIDL
// can never equal a plain one, which has no '-'.
func uidls(digests [][16]byte) []string {
	out := make([]string, len(digests))
	seen := make(map[[16]byte]int, len(digests))
	for i, d := range digests {
		seen[d]++
		out[i] = hex.EncodeToString(d[:])
		if n := seen[d]; n > 1 {
			out[i] += "-" + strconv.Itoa(n)
		}
	}
	return out
}
