// Package peers puts the stores a user might pick instead of in-mem
// behind the benchkit.Engine face, each configured as its documentation
// recommends for the mode under test. It lives in the bench/ module so
// that their dependencies never enter the library's go.mod.
package peers
