package migrate

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultDovecotFormat is Dovecot's default pop3_uidl_format.
const DefaultDovecotFormat = "%08Xu%08Xv"

// uidlVars are the values a pop3_uidl_format can name.
type uidlVars struct {
	uid, uidValidity uint32
	base, guid       string
}

// lookup returns the value of a one-letter or long variable name.
func (v *uidlVars) lookup(key string) (string, error) {
	switch key {
	case "u", "uid":
		return strconv.FormatUint(uint64(v.uid), 10), nil
	case "v", "uidvalidity":
		return strconv.FormatUint(uint64(v.uidValidity), 10), nil
	case "f", "filename":
		return v.base, nil
	case "g", "guid":
		return v.guid, nil
	case "m", "md5":
		return "", errors.New("%m (MD5 of the headers) applies to mbox only and is not supported")
	}
	return "", fmt.Errorf("unknown variable %q", key)
}

// CheckFormat reports whether format is a pop3_uidl_format this package
// can expand.
func CheckFormat(format string) error {
	_, err := expandFormat(format, &uidlVars{uid: 1, uidValidity: 1, base: "1.2.h", guid: "1.2.h"})
	return err
}

// expandFormat expands a pop3_uidl_format as Dovecot 2.3's var_expand
// does: %[-][0][width][.[-]width][modifiers]<key>, key one letter or
// {name}. Modifiers run first; X is lower-case hex of the decimal value
// (%llx), U and L change case, R reverses, M is the MD5 in hex. Then an
// offset skips octets; a width with a leading 0 zero-pads and never
// truncates, a width without it truncates (a negative one cuts from the
// end).
func expandFormat(format string, v *uidlVars) (string, error) {
	var b strings.Builder
	for i := 0; i < len(format); i++ {
		c := format[i]
		if c != '%' {
			b.WriteByte(c)
			continue
		}
		i++
		if i >= len(format) {
			return "", fmt.Errorf("migrate: format %q: ends in %%", format)
		}
		if format[i] == '%' {
			b.WriteByte('%')
			continue
		}
		sign, zero, width, offset := 1, false, 0, 0
		if format[i] == '-' {
			sign = -1
			i++
		}
		if i < len(format) && format[i] == '0' {
			zero = true
			i++
		}
		for i < len(format) && format[i] >= '0' && format[i] <= '9' && width < 1<<20 {
			width = width*10 + int(format[i]-'0')
			i++
		}
		if i < len(format) && format[i] == '.' {
			offset, width, sign = sign*width, 0, 1
			i++
			if i < len(format) && format[i] == '-' {
				sign = -1
				i++
			}
			for i < len(format) && format[i] >= '0' && format[i] <= '9' && width < 1<<20 {
				width = width*10 + int(format[i]-'0')
				i++
			}
		}
		width *= sign
		var mods []byte
		for i < len(format) && strings.IndexByte("XULRM", format[i]) >= 0 {
			mods = append(mods, format[i])
			i++
		}
		if i >= len(format) {
			return "", fmt.Errorf("migrate: format %q: variable name missing", format)
		}
		key := format[i : i+1]
		if format[i] == '{' {
			end := strings.IndexByte(format[i:], '}')
			if end < 0 {
				return "", fmt.Errorf("migrate: format %q: unterminated %%{", format)
			}
			key = format[i+1 : i+end]
			i += end
		}
		val, err := v.lookup(key)
		if err != nil {
			return "", fmt.Errorf("migrate: format %q: %w", format, err)
		}
		for _, m := range mods {
			if val, err = modify(m, val); err != nil {
				return "", fmt.Errorf("migrate: format %q: %w", format, err)
			}
		}
		switch {
		case offset > 0:
			val = val[min(offset, len(val)):]
		case offset < 0:
			val = val[max(len(val)+offset, 0):]
		}
		switch {
		case width == 0:
		case zero:
			if len(val) < width {
				val = strings.Repeat("0", width-len(val)) + val
			}
		case width > 0:
			val = val[:min(width, len(val))]
		default:
			val = val[:max(len(val)+width, 0)]
		}
		b.WriteString(val)
	}
	return b.String(), nil
}

// modify applies one var_expand modifier.
func modify(m byte, s string) (string, error) {
	switch m {
	case 'X':
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			return "", fmt.Errorf("modifier X on non-numeric value %q", s)
		}
		return strconv.FormatUint(n, 16), nil
	case 'U':
		return strings.ToUpper(s), nil
	case 'L':
		return strings.ToLower(s), nil
	case 'R':
		r := []byte(s)
		for i, j := 0, len(r)-1; i < j; i, j = i+1, j-1 {
			r[i], r[j] = r[j], r[i]
		}
		return string(r), nil
	case 'M':
		sum := md5.Sum([]byte(s))
		return hex.EncodeToString(sum[:]), nil
	}
	return "", fmt.Errorf("unsupported modifier %q", m)
}
