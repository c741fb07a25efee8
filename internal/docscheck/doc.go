// Package docscheck holds the tests that keep the prose of the repository
// (README.md, docs/, packaging/) true to it: the README's table of the data
// directory lists exactly what a fresh excd makes, no document cites a file
// outside the repository, and none names the tracker's issue numbers, which
// mean nothing to a reader of the repository. It has no code of its own.
package docscheck
