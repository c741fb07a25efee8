package pgkv

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
)

// Values are sealed before they leave the process (docs/format.md,
// "PostgreSQL catalog"): the database's administrator sees the keys, which
// must stay ordered for listing, but no value.
//
// A sealed value is one version byte, a random 16-byte salt, and the value
// under AES-256-GCM with a key derived from the engine's key and that salt
// (a zero nonce: each derived key seals one value), authenticated with the
// row's key as additional data, so a value moved to another row does not
// open. A fresh key per value has no bound on how many values one engine
// key may seal, which a random 96-bit nonce under one key would have.
const (
	sealVersion = 1
	saltSize    = 16
	sealLabel   = "excloud-buckets v1 catalog pgkv value-seal"
)

var errUnseal = errors.New("pgkv: a value does not open with this key (another master key, or altered in the database)")

// sealer seals and opens values under a key derived from the engine's key.
type sealer struct {
	base []byte // HKDF pseudo-random key from the engine key
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, fmt.Errorf("pgkv: the sealing key is %d bytes, want 32", len(key))
	}
	prk, err := hkdf.Extract(sha256.New, key, nil)
	if err != nil {
		return nil, err
	}
	return &sealer{base: prk}, nil
}

func (s *sealer) aead(salt []byte) (cipher.AEAD, error) {
	k, err := hkdf.Expand(sha256.New, s.base, sealLabel+"\x00"+string(salt), 32)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(k)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

var zeroNonce [12]byte

func (s *sealer) seal(key, value []byte) ([]byte, error) {
	out := make([]byte, 1+saltSize, 1+saltSize+len(value)+16)
	out[0] = sealVersion
	salt := out[1 : 1+saltSize]
	rand.Read(salt) // never fails (crypto/rand)
	a, err := s.aead(salt)
	if err != nil {
		return nil, err
	}
	return a.Seal(out, zeroNonce[:], value, key), nil
}

func (s *sealer) open(key, sealed []byte) ([]byte, error) {
	if len(sealed) < 1+saltSize+16 || sealed[0] != sealVersion {
		return nil, fmt.Errorf("%w: key %q", errUnseal, key)
	}
	a, err := s.aead(sealed[1 : 1+saltSize])
	if err != nil {
		return nil, err
	}
	v, err := a.Open(nil, zeroNonce[:], sealed[1+saltSize:], key)
	if err != nil {
		return nil, fmt.Errorf("%w: key %q", errUnseal, key)
	}
	if v == nil {
		v = []byte{} // present, though empty
	}
	return v, nil
}
