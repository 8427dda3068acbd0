package config

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// File is a parsed configuration file.
type File struct {
	// Path is the file name used in error messages.
	Path string
	// Config holds the defaults overlaid with the values of the file.
	Config Config

	defined map[string]bool // keys set by the file
	lines   map[string]int  // dotted key → line
}

// Defined reports whether the file sets the dotted key.
func (f *File) Defined(key string) bool { return f != nil && f.defined[key] }

// Line returns the line where the dotted key (or, failing that, its
// nearest enclosing table) is set, or 0.
func (f *File) Line(key string) int {
	if f == nil {
		return 0
	}
	for k := key; k != ""; {
		if n, ok := f.lines[k]; ok {
			return n
		}
		i := strings.LastIndexByte(k, '.')
		if i < 0 {
			break
		}
		k = k[:i]
	}
	return 0
}

// Locate returns e with the file name and the line of its key filled in.
func (f *File) Locate(e *Error) *Error {
	out := *e
	if f != nil {
		out.File = f.Path
		if out.Line == 0 {
			out.Line = f.Line(e.Key)
		}
	}
	return &out
}

// Load reads and parses the file at path. Configuration problems are
// returned as Errors; a file that cannot be read gives an error wrapping
// the fs error.
func Load(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: read %s: %w", path, err)
	}
	return Parse(path, data)
}

// Parse decodes data, named path in messages, over the defaults. It
// reports TOML syntax errors, unknown sections and keys, and values of the
// wrong type, each naming its key and line, as Errors. It does not run
// Validate.
func Parse(path string, data []byte) (*File, error) {
	f := &File{Path: path, Config: Defaults(), defined: map[string]bool{}, lines: keyLines(string(data))}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, Errors{{File: path, Line: pe.Position.Line, Key: pe.LastKey, Msg: pe.Message}}
		}
		return nil, Errors{{File: path, Msg: err.Error()}}
	}
	known := map[string]Setting{}
	for _, s := range Settings() {
		known[s.Key] = s
	}
	sections := map[string]bool{}
	for _, s := range Sections() {
		sections[s] = true
	}
	var errs Errors
	bad := func(key, format string, args ...any) {
		errs = append(errs, &Error{File: path, Line: f.Line(key), Key: key, Msg: fmt.Sprintf(format, args...)})
	}
	// reported holds keys whose children need no further message.
	reported := map[string]bool{}
	for _, k := range md.Keys() {
		key := k.String()
		if parentReported(reported, k) {
			continue
		}
		if s, ok := known[key]; ok {
			f.defined[key] = true
			if err := assign(s.field(&f.Config), lookupRaw(raw, k)); err != nil {
				bad(key, "%v", err)
			}
			reported[key] = true
			continue
		}
		if len(k) == 1 && sections[key] {
			if _, ok := lookupRaw(raw, k).(map[string]any); !ok {
				bad(key, "[%s] must be a table", key)
				reported[key] = true
			}
			continue
		}
		if len(k) == 1 && md.Type(k...) == "Hash" {
			bad(key, "unknown section [%s] (known: %s)", key, strings.Join(Sections(), ", "))
		} else {
			bad(key, "unknown key")
		}
		reported[key] = true
	}
	if len(errs) > 0 {
		sort.SliceStable(errs, func(i, j int) bool { return errs[i].Line < errs[j].Line })
		return nil, errs
	}
	return f, nil
}

// parentReported reports whether an enclosing key of k was already
// reported or decoded as a whole.
func parentReported(reported map[string]bool, k toml.Key) bool {
	for i := 1; i < len(k); i++ {
		if reported[k[:i].String()] {
			return true
		}
	}
	return false
}

// lookupRaw returns the decoded value at key k.
func lookupRaw(raw map[string]any, k toml.Key) any {
	var v any = raw
	for _, part := range k {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[part]
	}
	return v
}

// assign stores the TOML value v into the field ptr points to, checking
// its type.
func assign(ptr, v any) error {
	switch p := ptr.(type) {
	case *string:
		s, ok := v.(string)
		if !ok {
			return typeErr("a string", v)
		}
		*p = s
	case *bool:
		b, ok := v.(bool)
		if !ok {
			return typeErr("true or false", v)
		}
		*p = b
	case *int:
		n, ok := v.(int64)
		if !ok {
			return typeErr("an integer", v)
		}
		if int64(int(n)) != n {
			return fmt.Errorf("%d is out of range", n)
		}
		*p = int(n)
	case *time.Duration:
		s, ok := v.(string)
		if !ok {
			return typeErr(`a duration string such as "10m" or "90s"`, v)
		}
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("bad duration %q (want a number with a unit: ms, s, m, h)", s)
		}
		*p = d
	case *[]string:
		list, ok := v.([]any)
		if !ok {
			return typeErr("an array of strings", v)
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := e.(string)
			if !ok {
				return typeErr("an array of strings", v)
			}
			out = append(out, s)
		}
		*p = out
	default:
		return fmt.Errorf("unsupported setting type %T", ptr)
	}
	return nil
}

// typeErr describes a value of the wrong TOML type.
func typeErr(want string, v any) error {
	return fmt.Errorf("want %s, got %s", want, tomlType(v))
}

// tomlType names the TOML type of a decoded value.
func tomlType(v any) string {
	switch v.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	case time.Time:
		return "a date or time"
	}
	return fmt.Sprintf("%T", v)
}
