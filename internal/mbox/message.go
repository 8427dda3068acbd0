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
	// clEnd is where the body described by a Content-Length field ends
	// (padded view, math.MaxInt64 if past it), whether or not the field
	// was honoured; -1 if none was looked at.
	clEnd int64
	// clOpen is the value of a Content-Length field in a header section
	// that never ended (no blank line before the unit's end), -1 if none:
	// a separator added after the unit ends it, and the field then
	// describes a body after the unit (see checkPlan).
	clOpen int64
}

// builder accumulates one unit while the scanner reads it. It is fed
// octets of the padded view (see scanner): those at or past limit, the
// file size, are digested but neither stored nor counted.
type builder struct {
	u      unit
	h      hash.Hash // UIDL digest, nil if not computed
	cnt    crlf.Counter
	limit  int64 // the file size
	skip   bool  // the current header field is left out of the digest
	cl     int64 // value of the first Content-Length field, -1 if none
	imap   bool  // an X-IMAP or X-IMAPbase field was seen
	pseudo bool  // the subject is pseudoSubject
	ended  bool
	fed    bool // message octets were fed
	lastLF bool // the last of them was LF
}

// newBuilder starts a unit at start; with digest false it computes no
// UIDL digest (unit.digest stays zero).
func newBuilder(start int64, mmdf bool, limit int64, digest bool) *builder {
	b := &builder{u: unit{start: start, body: -1, mmdf: mmdf, clEnd: -1, clOpen: -1}, cl: -1, limit: limit}
	if digest {
		b.h = sha256.New()
	}
	return b
}

// fromLine feeds (part of) the From_ line: it is digested but not sent.
func (b *builder) fromLine(p []byte) { b.digest(p) }

// digest adds p to the UIDL digest.
func (b *builder) digest(p []byte) {
	if b.h != nil {
		b.h.Write(p)
	}
}

// msg feeds message octets found at offset off; digest says whether they
// enter the digest.
func (b *builder) msg(p []byte, off int64, digest bool) {
	if len(p) == 0 {
		return
	}
	b.cnt.Add(p[:max(0, min(int64(len(p)), b.limit-off))])
	b.fed, b.lastLF = true, p[len(p)-1] == '\n'
	if digest {
		b.digest(p)
	}
}

// headerLine feeds the first fragment of a header line, found at offset
// off. A continuation line (starting with white space) shares its
// field's fate.
func (b *builder) headerLine(p []byte, off int64) {
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
	b.msg(p, off, !b.skip)
}

// finish ends the message octets at end (padded view; the stored message
// ends at the file size at the latest). A message whose octets do not
// end in LF (a Content-Length body, or an unclosed MMDF message) is
// digested as if they did, so that a later repair of the missing newline
// keeps its UIDL; it is transmitted with CRLF appended either way. In an
// mbox the last line of the file has its LF already: the padding.
func (b *builder) finish(end int64) {
	if b.ended {
		return
	}
	b.ended = true
	if b.u.clEnd < 0 && b.cl >= 0 {
		b.u.clOpen = b.cl
	}
	if b.u.body < 0 {
		b.u.body = end
	}
	b.u.body = min(b.u.body, b.limit)
	b.u.end = min(end, b.limit)
	if b.fed && !b.lastLF {
		b.digest([]byte{'\n'})
	}
	b.u.size = b.cnt.Transmitted()
	if b.h != nil {
		copy(b.u.digest[:], b.h.Sum(nil))
	}
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
