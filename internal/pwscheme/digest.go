package pwscheme

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/base64"
	"hash"

	"golang.org/x/crypto/md4"
)

// genSaltLen is the salt length written by Generate for the SSHA family
// (doveadm writes 4 bytes; any length is read back by Dovecot).
const genSaltLen = 16

// digestSpec describes an unsalted or salted single-hash scheme.
type digestSpec struct {
	newHash func() hash.Hash
	size    int
	enc     string
}

// digestSpecFor returns the hash function and default encoding of a
// digest scheme.
func digestSpecFor(name string) digestSpec {
	switch name {
	case "SHA", "SSHA":
		return digestSpec{sha1.New, sha1.Size, encB64}
	case "SHA256", "SSHA256":
		return digestSpec{sha256.New, sha256.Size, encB64}
	case "SHA512", "SSHA512":
		return digestSpec{sha512.New, sha512.Size, encB64}
	case "SMD5", "LDAP-MD5":
		return digestSpec{md5.New, md5.Size, encB64}
	case "PLAIN-MD5":
		return digestSpec{md5.New, md5.Size, encHex}
	case "PLAIN-MD4":
		return digestSpec{md4.New, md4.Size, encHex}
	}
	panic("pwscheme: no digest for scheme " + name)
}

// digestDef builds the definition of a digest scheme. Salted schemes store
// digest ‖ salt, unsalted ones the bare digest.
func digestDef(name string, aliases []string, desc string, salted bool) *def {
	spec := digestSpecFor(name)
	d := &def{name: name, aliases: aliases, enc: spec.enc, weak: true,
		mechs: []string{MechPlain}, desc: desc,
		noGen: "unsalted or legacy fast hash"}
	if !salted {
		d.rawLen = spec.size
	}
	d.parse = func(raw []byte) (verifier, error) {
		if salted && len(raw) <= spec.size {
			return nil, malformed(name, "value is too short to hold the digest and a salt")
		}
		return &digestVerifier{newHash: spec.newHash, digest: raw[:spec.size], salt: raw[spec.size:]}, nil
	}
	if salted && name != "SMD5" {
		d.gen = func(password string, _ Params) (string, error) {
			salt, err := randomBytes(genSaltLen)
			if err != nil {
				return "", err
			}
			v := digestVerifier{newHash: spec.newHash, salt: salt}
			out := append(v.sum(password), salt...)
			return base64.StdEncoding.EncodeToString(out), nil
		}
		d.noGen = ""
	}
	return d
}

// digestVerifier checks H(password ‖ salt) against a stored digest.
type digestVerifier struct {
	newHash func() hash.Hash
	digest  []byte
	salt    []byte
}

func (v *digestVerifier) sum(password string) []byte {
	h := v.newHash()
	h.Write([]byte(password))
	h.Write(v.salt)
	return h.Sum(nil)
}

func (v *digestVerifier) match(password, _ string) (bool, error) {
	return subtle.ConstantTimeCompare(v.sum(password), v.digest) == 1, nil
}

func (v *digestVerifier) work() work { return work{} }
