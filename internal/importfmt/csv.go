package importfmt

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrBadHeader is returned by ParseCSV when the first row is not a usable
// header.
var ErrBadHeader = errors.New("importfmt: bad CSV header")

// csvColumns maps accepted header names (lower case) to the Record field
// they fill.
var csvColumns = map[string]string{
	"user":         "user",
	"username":     "user",
	"login":        "user",
	"email":        "user",
	"hash":         "hash",
	"password":     "password",
	"name":         "name",
	"display_name": "name",
	"displayname":  "name",
	"disabled":     "disabled",
	"maildrop":     "maildrop",
}

// maxCSVRows bounds the number of records ParseCSV reads, so a hostile
// input cannot make it loop for ever.
const maxCSVRows = 10_000_000

// ParseCSV reads a comma-separated file whose first row is a header. The
// "user" column (also "username", "login", "email") is required, and each
// row needs exactly one of "hash" (a "{SCHEME}value" or bare crypt string)
// and "password" (a clear password, hashed by the store). Optional columns
// are "name" (display name), "disabled" (true/false, yes/no, 1/0, or empty)
// and "maildrop". Other columns are ignored and listed in
// Result.IgnoredColumns, so the output of WriteCSV reads back. Lines
// starting with '#' are comments; a UTF-8 byte order mark is skipped.
func ParseCSV(r io.Reader, opts Options) (*Result, error) {
	br := bufio.NewReader(r)
	if bom, err := br.Peek(3); err == nil && bytes.Equal(bom, []byte("\xef\xbb\xbf")) {
		_, _ = br.Discard(3)
	}
	cr := csv.NewReader(br)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1

	header, err := cr.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("%w: empty file", ErrBadHeader)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrBadHeader, csvErrText(err))
	}
	res := &Result{}
	col := map[string]int{}
	for i, h := range header {
		name := strings.ToLower(strings.TrimSpace(h))
		field, ok := csvColumns[name]
		if !ok {
			res.IgnoredColumns = append(res.IgnoredColumns, h)
			continue
		}
		if _, dup := col[field]; dup {
			return nil, fmt.Errorf("%w: column %q given twice", ErrBadHeader, h)
		}
		col[field] = i
	}
	if _, ok := col["user"]; !ok {
		return nil, fmt.Errorf("%w: no user column", ErrBadHeader)
	}
	_, hasHash := col["hash"]
	_, hasPw := col["password"]
	if !hasHash && !hasPw {
		return nil, fmt.Errorf("%w: no hash or password column", ErrBadHeader)
	}

	for i := 0; i < maxCSVRows; i++ {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// The reader has consumed the broken record; carry on.
				res.fail(pe.StartLine, "", "%s", csvErrText(err))
				continue
			}
			return nil, fmt.Errorf("importfmt: read: %w", err)
		}
		line, _ := cr.FieldPos(0)
		parseCSVRow(res, line, rec, len(header), col, opts)
	}
	return res, nil
}

// parseCSVRow turns one CSV record into a Record or a LineError.
func parseCSVRow(res *Result, line int, rec []string, width int, col map[string]int, opts Options) {
	get := func(field string) string {
		i, ok := col[field]
		if !ok || i >= len(rec) {
			return ""
		}
		return rec[i]
	}
	user := strings.TrimSpace(get("user"))
	if len(rec) != width {
		res.fail(line, printableUser(user), "%d fields, header has %d", len(rec), width)
		return
	}
	if bad := checkUser(user); bad != "" {
		res.fail(line, "", "%s", bad)
		return
	}
	out := Record{Line: line, User: user}
	hash, pw := get("hash"), get("password")
	switch {
	case hash != "" && pw != "":
		res.fail(line, user, "both hash and password given")
		return
	case hash != "":
		h, err := normalizeField(hash, opts)
		if err != nil {
			res.fail(line, user, "%s", hashErrorText(err))
			return
		}
		out.Hash = h
	case pw != "":
		if hasControl(pw) {
			res.fail(line, user, "control character in password")
			return
		}
		out.Password = pw
	default:
		res.fail(line, user, "no hash or password")
		return
	}
	out.DisplayName = strings.TrimSpace(get("name"))
	if hasControl(out.DisplayName) {
		res.fail(line, user, "control character in name")
		return
	}
	switch strings.ToLower(strings.TrimSpace(get("disabled"))) {
	case "", "0", "false", "no", "n":
	case "1", "true", "yes", "y":
		out.Disabled = true
	default:
		res.fail(line, user, "disabled must be true or false")
		return
	}
	out.Maildrop = strings.TrimSpace(get("maildrop"))
	if hasControl(out.Maildrop) {
		res.fail(line, user, "control character in maildrop")
		return
	}
	res.Records = append(res.Records, out)
}

// printableUser returns u when it is safe to show in a report.
func printableUser(u string) string {
	if checkUser(u) != "" {
		return ""
	}
	return u
}

// csvErrText is a CSV parse error without the "record on line N" prefix
// (the line goes into LineError.Line).
func csvErrText(err error) string {
	var pe *csv.ParseError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
