package pwscheme

import (
	"crypto/rand"
	"fmt"
)

// saltAlphabet is the crypt(3) salt alphabet doveadm draws text salts from.
const saltAlphabet = "./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomBytes returns n bytes from crypto/rand.
func randomBytes(n int) ([]byte, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return nil, fmt.Errorf("pwscheme: read random salt: %w", err)
	}
	return b, nil
}

// randomSaltText returns n characters from saltAlphabet. The alphabet has
// 64 characters, so taking 6 bits of each random byte is unbiased.
func randomSaltText(n int) (string, error) {
	b, err := randomBytes(n)
	if err != nil {
		return "", err
	}
	for i := range b {
		b[i] = saltAlphabet[b[i]&63]
	}
	return string(b), nil
}
