// Package dberr is the error model of in-mem: one error type with a stable
// Code and context, plus one sentinel per code for errors.Is.
//
// Every layer returns *Error for conditions a caller can act on, so that the
// public package can re-export the type and sentinels unchanged.
package dberr
