package mbox

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// commitKeeps opens the spool at path, lets change run (it may append
// mail), deletes del and checks that every other message of the snapshot
// is listed afterwards with the same UIDL and content, followed by
// extra more messages.
func commitKeeps(t *testing.T, path string, del []int, extra int, change func()) {
	t.Helper()
	o, _ := testOptions(t)
	before := takeSnapshot(t, path, o)
	s := openT(t, path, o)
	if change != nil {
		change()
	}
	if err := s.Commit(del); err != nil {
		t.Fatalf("Commit(%v): %v", del, err)
	}
	s.Close()
	after := takeSnapshot(t, path, o)
	want := before.without(del)
	if len(after.uidl) != len(want.uidl)+extra {
		t.Fatalf("%d messages after the update, want %d + %d:\n%q", len(after.uidl), len(want.uidl), extra, mustRead(t, path))
	}
	if got := after.uidl[:len(want.uidl)]; !slices.Equal(got, want.uidl) {
		t.Errorf("UIDLs %q, want %q", got, want.uidl)
	}
	if got := after.content[:len(want.content)]; !slices.Equal(got, want.content) {
		t.Errorf("content %q, want %q", got, want.content)
	}
	assertEnding(t, mustRead(t, path))
	assertNoLeftovers(t, path, o)
}

// TestCommitKeepsContentLengthMessageWhenNextDeleted: a Content-Length
// one octet too long for its body, which a From_ line follows directly,
// is ignored; deleting that next message puts a separator there, which
// must not make the field fit (the body would take it).
func TestCommitKeepsContentLengthMessageWhenNextDeleted(t *testing.T) {
	spool := "From a@example.com  Sat Nov 28 06:19:19 2026\nContent-Length: 5\n\nabc\n" +
		"From b@example.com  Sat Nov 28 06:19:20 2026\nSubject: b\n\nb\n\n" +
		"From c@example.com  Sat Nov 28 06:19:21 2026\nSubject: c\n\nc\n\n"
	commitKeeps(t, writeSpool(t, []byte(spool)), []int{1}, 0, nil)
}

// TestCommitRefusesJoinByWrongContentLength: a Content-Length field that
// ends inside the next message is ignored, but once that message is
// deleted the same field ends right before a From_ line, and the joined
// file reads like a mboxcl2 message with an unescaped From_ line in its
// body. No parsing rule can tell the two apart, so Commit checks the
// rewritten spool and refuses the update, leaving the spool as it was.
func TestCommitRefusesJoinByWrongContentLength(t *testing.T) {
	t.Run("body", testRefusedJoin)
	t.Run("header only", func(t *testing.T) {
		// Found by FuzzRewrite: the field covers the From_ line of the
		// message after the deleted one.
		orig := []byte("From 0000\nContent-Length:7\n\nFrom 00000000\n\nFrom 0")
		path := writeSpool(t, orig)
		o, _ := testOptions(t)
		s := openT(t, path, o)
		if n := len(s.Messages()); n != 3 {
			t.Fatalf("%d messages, want 3", n)
		}
		if err := s.Commit([]int{1}); !errors.Is(err, errPlanCheck) {
			t.Fatalf("Commit: %v, want the plan check to refuse", err)
		}
		s.Close()
		if !bytes.Equal(mustRead(t, path), orig) {
			t.Error("a refused update changed the spool")
		}
		assertNoLeftovers(t, path, o)
	})
}

func testRefusedJoin(t *testing.T) {
	w := "From w@example.com  Sat Nov 28 06:19:19 2026\nS: w\n\nxy\n\n"
	x := "From x@example.com  Sat Nov 28 06:19:19 2026\nS: x\n\nx\n\n"
	// After v is deleted, the body is "abc\n\n" and w up to its separator.
	n := len("abc\n\n") + len(w) - 1
	u := "From u@example.com  Sat Nov 28 06:19:19 2026\nContent-Length: " + strconv.Itoa(n) + "\n\nabc\n\n"
	v := "From v@example.com  Sat Nov 28 06:19:19 2026\nS: v\n\n" + strings.Repeat("v", 40) + "\n\n"
	orig := []byte(u + v + w + x)
	if got := len(scanT(t, string(orig)).units); got != 4 {
		t.Fatalf("spool has %d messages, want 4", got)
	}
	if got := len(scanT(t, u+w+x).units); got != 2 {
		t.Fatalf("joined spool has %d messages; the test needs the Content-Length to fit there", got)
	}
	path := writeSpool(t, orig)
	o, _ := testOptions(t)
	s := openT(t, path, o)
	err := s.Commit([]int{1})
	if !errors.Is(err, errPlanCheck) {
		t.Fatalf("Commit: %v, want the plan check to refuse", err)
	}
	s.Close()
	if !bytes.Equal(mustRead(t, path), orig) {
		t.Error("a refused update changed the spool")
	}
	assertNoLeftovers(t, path, o)
	// Deleting another message is fine.
	commitKeeps(t, path, []int{2}, 0, nil)
}

// TestCommitAppendedMailAfterBlankLine: mail appended since the scan that
// starts with a blank line (the writer put the separator first) gets no
// second separator before it, which would grow the message before it.
func TestCommitAppendedMailAfterBlankLine(t *testing.T) {
	for _, last := range []string{"last\n", "last"} {
		path := writeSpool(t, append(mdaMessage("m0", 3), fromLine("b")+"Subject: b\n\n"+last...))
		commitKeeps(t, path, []int{0}, 1, func() {
			if err := deliverPostfix(path, append([]byte("\n"), mdaMessage("new", 2)...), 0, false); err != nil {
				t.Fatal(err)
			}
		})
		if ids := idsIn(t, mustRead(t, path)); !slices.Equal(ids, []string{"new"}) {
			t.Errorf("ids %v", ids)
		}
	}
}

// TestCommitAppendedJunk: bytes appended since the scan that are no mail
// (no From_ line) end up in the last kept message, as they would without
// the update; the update is not refused for them.
func TestCommitAppendedJunk(t *testing.T) {
	path := writeSpool(t, append(mdaMessage("m0", 3), mdaMessage("m1", 3)...))
	o, _ := testOptions(t)
	s := openT(t, path, o)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("junk\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := s.Commit([]int{0}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
	s.Close()
	after := takeSnapshot(t, path, o)
	if len(after.content) != 1 || !strings.Contains(after.content[0], "m1 line 3") || !strings.HasSuffix(after.content[0], "junk\r\n") {
		t.Errorf("after the update: %q", after.content)
	}
}

// TestCommitRepairsUnfinishedLastLine: the last line of the spool lacks
// its LF; deleting an earlier message makes Commit add it, and the plan
// check accepts the result: the last message keeps its UIDL and content
// (a From_ line alone stays an empty message), and its size, except that
// a lone CR before the added LF becomes a line end (one octet less).
func TestCommitRepairsUnfinishedLastLine(t *testing.T) {
	for _, last := range []string{"S: b\n\nno newline", "S: b\nStatus: RO", "S: b\n\nlone cr\r", ""} {
		spool := string(mdaMessage("m0", 2)) + strings.TrimSuffix(fromLine("b")+last, "\n")
		path := writeSpool(t, []byte(spool))
		o, _ := testOptions(t)
		s := openT(t, path, o)
		before := s.Messages()
		if err := s.Commit([]int{0}); err != nil {
			t.Fatalf("%q: Commit: %v", last, err)
		}
		s.Close()
		b := mustRead(t, path)
		assertEnding(t, b)
		after := openT(t, path, o).Messages()
		want := before[1].Size
		if strings.HasSuffix(last, "\r") {
			want--
		}
		if len(after) != 1 || after[0].UIDL != before[1].UIDL || after[0].Size != want {
			t.Errorf("%q: after the update %+v, before %+v", last, after, before)
		}
	}
}

// rewriteResult applies plan p to content in memory and checks the result
// as FuzzRewrite does, the way a later session sees it: the plan must not
// grow the file and an mbox must end in a blank line (t fails
// otherwise); the kept units (indexes into res.units) must come back in
// order with the same digest, stored bytes (a last line may gain its LF)
// and size (one octet less for a lone CR before that LF), the
// folder-internal message must stay first and hidden, and the delivered
// message, if any, must follow intact. It returns what is wrong with the
// messages, or nil.
func rewriteResult(t *testing.T, fl *os.File, data, content []byte, res *scanResult, kept []int, p *plan, delivered []byte) error {
	t.Helper()
	if p.F < 0 || p.L < 0 || p.F+p.L > int64(len(content)) {
		t.Fatalf("plan F %d L %d for %d octets", p.F, p.L, len(content))
	}
	var w bytes.Buffer
	if err := p.writer(fl)(&w); err != nil {
		t.Fatal(err)
	}
	if int64(w.Len()) != p.L {
		t.Fatalf("plan writes %d octets, L is %d", w.Len(), p.L)
	}
	out := append(bytes.Clone(content[:p.F]), w.Bytes()...)
	if !res.mmdf && len(out) > 0 && !endsBlank(out) {
		t.Fatalf("rewritten spool does not end in a blank line: %q", out[max(0, len(out)-10):])
	}
	res2, err := scanBytes(out, -1)
	if err != nil {
		return err
	}
	var got []unit
	for k, u := range res2.units {
		if u.pseudo != (k == 0 && len(res.units) > 0 && res.units[0].pseudo) {
			return fmt.Errorf("unit %d: folder-internal %v", k, u.pseudo)
		}
		if !u.pseudo {
			got = append(got, u)
		}
	}
	wantN := len(kept)
	if delivered != nil {
		wantN++
	}
	if len(got) != wantN {
		return fmt.Errorf("%d messages, want %d kept + %d delivered\n%q", len(got), len(kept), wantN-len(kept), out)
	}
	for k, i := range kept {
		u, v := res.units[i], got[k]
		old, now := data[u.body:u.end], out[v.body:v.end]
		grew := !bytes.HasSuffix(old, []byte("\n")) && bytes.Equal(now, append(bytes.Clone(old), '\n'))
		switch {
		case !bytes.Equal(old, now) && !grew:
			return fmt.Errorf("kept message %d changed:\n was %q\n now %q", k, old, now)
		case u.digest != v.digest:
			return fmt.Errorf("kept message %d changed its UIDL: %q became %q", k, data[u.start:u.next], out[v.start:v.next])
		case u.size != v.size && !(grew && bytes.HasSuffix(old, []byte("\r"))):
			return fmt.Errorf("kept message %d: size %d became %d", k, u.size, v.size)
		}
	}
	if delivered != nil {
		if v := got[len(got)-1]; !bytes.Equal(out[v.body:v.end], delivered) {
			return errors.New("delivered message changed")
		}
	}
	return nil
}

// FuzzCheckPlan plans UPDATEs like FuzzRewrite and checks checkPlan
// against a scan of the whole rewritten spool: it must refuse exactly the
// plans whose result loses, merges, splits or changes a message.
func FuzzCheckPlan(f *testing.F) {
	addRewriteSeeds(f)
	// A Content-Length that fits once the message after it is deleted,
	// and one that fits once mail is delivered.
	w := "From w@example.com  Sat Nov 28 06:19:19 2026\nS: w\n\nxy\n\n"
	x := "From x@example.com  Sat Nov 28 06:19:19 2026\nS: x\n\nx\n\n"
	v := "From v@example.com  Sat Nov 28 06:19:19 2026\nS: v\n\n" + strings.Repeat("v", 40) + "\n\n"
	u := "From u@example.com  Sat Nov 28 06:19:19 2026\nContent-Length: " + strconv.Itoa(len("abc\n\n")+len(w)-1) + "\n\nabc\n\n"
	f.Add([]byte(u+v+w+x), uint64(2), false)
	d := fuzzFrom + "\nSubject: delivered\n\nnew\n"
	f.Add([]byte(x+"From u\nContent-Length: "+strconv.Itoa(len("abc\n\n")+len(d))+"\n\nabc\n\n"), uint64(1), true)
	fl := scratchFile(f)
	f.Fuzz(func(t *testing.T, data []byte, mask uint64, deliver bool) {
		in, ok := rewriteInput(t, data, mask, deliver)
		if !ok {
			return
		}
		res, del, kept, content, delivered := in.res, in.del, in.kept, in.content, in.delivered
		setContent(t, fl, content)
		s := &Spool{path: fl.Name(), f: fl, res: res, atScan: fileState{size: int64(len(data))}, log: discardLog()}
		p, err := s.buildPlan(del, int64(len(content)))
		if err != nil {
			t.Fatalf("buildPlan: %v", err)
		}
		truth := rewriteResult(t, fl, data, content, res, kept, p, delivered)
		err = s.checkPlan(p)
		switch {
		case err != nil && !errors.Is(err, errPlanCheck):
			t.Fatalf("checkPlan: %v", err)
		case err != nil && truth == nil:
			t.Fatalf("checkPlan refused a good rewrite: %v", err)
		case err == nil && truth != nil:
			t.Fatalf("checkPlan accepted a bad rewrite: %v", truth)
		}
	})
}

// TestPlanViewReadAt reads the rewritten spool of a plan across its
// pieces: spool ranges and literal separators.
func TestPlanViewReadAt(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("0123456789"); err != nil {
		t.Fatal(err)
	}
	p := &plan{F: 2, L: 6, pieces: []piece{{off: 5, n: 3}, {lit: []byte("\n\n"), n: 2}, {off: 9, n: 1}}}
	v := newPlanView(f, p)
	want := "01567\n\n9"
	for off := range len(want) + 1 {
		for n := 1; off+n <= len(want)+1; n++ {
			b := make([]byte, n)
			k, err := v.ReadAt(b, int64(off))
			end := min(off+n, len(want))
			if string(b[:k]) != want[off:end] || (off+n > len(want)) != (err != nil) {
				t.Errorf("ReadAt(%d, %d) = %q, %v; want %q", off, n, b[:k], err, want[off:end])
			}
		}
	}
}
