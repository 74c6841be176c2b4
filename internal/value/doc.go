// Package value implements Value, the one data type every primitive stores,
// and its canonical binary encoding.
//
// A Value is immutable. Constructors copy what they are given and accessors
// copy what they return, so the database can keep the very Value a caller
// passed in and hand the same Value to every reader without copying it again:
// nobody holding a Value can change what another holder sees. That is what
// makes a read of a stored value free of allocations.
package value
