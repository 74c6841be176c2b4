// Package jsonpath holds the path type and the document operations of the
// JSON document store: Get, Set and Delete at a path, RFC 6902 JSON Patch and
// RFC 7396 JSON Merge Patch.
//
// Documents are value.Value trees. Values are immutable, so every operation
// is a pure function that returns a new document: the containers on the way
// from the root to the change are copied and everything else is shared. An
// operation that fails, however many steps it had taken, leaves the document
// it was given as it was; Set, Delete and Patch return that document
// alongside the error.
//
// # Paths
//
// Parse accepts two syntaxes. A string that is empty or starts with "/" is an
// RFC 6901 JSON Pointer; any other string is a dotted path.
//
//	pointer   = "" | 1*( "/" token )
//	token     = *( unescaped | "~0" | "~1" )   ; "~0" is "~", "~1" is "/"
//	unescaped = any character except "/" and "~"
//
//	dotted    = [ "$" ] [ name ] *( "." name | "[" bracket "]" )
//	          ; a bare leading name is allowed only without "$";
//	          ; "$" alone, or nothing after it, is the root
//	name      = 1*( any character except "." "[" "]" )
//	bracket   = index | "-" | dquoted | squoted
//	index     = "0" | %x31-39 *DIGIT             ; no leading zeros, fits an int
//	dquoted   = a JSON string: '"' ... '"' with the JSON escapes
//	            \" \\ \/ \b \f \n \r \t \uXXXX (surrogate pairs combined)
//	squoted   = "'" ... "'" with the same escapes plus \'
//
// Examples: "/a/b/0", "/a~1b" (the key "a/b"), "/" (the empty key), "$",
// "a.b[0]", "$.a.b[0].c", `$["key with.dots"]`, "$['k']", "$.list[-]".
//
// A path is a sequence of segments of four kinds (SegmentKind):
//
//   - SegToken, a JSON Pointer reference token. It is resolved against the
//     document: on an object it is a key; on an array it must be an RFC 6901
//     array index (decimal digits without leading zeros) or "-", the
//     position after the last element.
//   - SegKey, a dotted ".name" or ["name"]: always an object key.
//   - SegIndex, a dotted [n]: always an array index.
//   - SegEnd, a dotted [-]: always the position after the last element of an
//     array. The parser accepts it only as the last segment, the one place
//     where "-" can mean anything (Set appends there).
//
// Quoted names and the characters of a name are taken literally: in
// dotted syntax "~" and "/" have no special meaning.
//
// Path.String renders any path as a JSON Pointer. Parsing it back gives the
// same tokens, all of kind SegToken; for a path that was parsed from a
// pointer it gives an equal path. An explicit kind only ever turns a success
// into an error (WrongType, or NotFound for an index under a missing parent),
// so an operation that succeeds with a path succeeds with the same result
// using the pointer form of that path.
//
// Parse rejects, with an error matching dberr.ErrInvalidPath, text that is
// not valid UTF-8, longer than MaxPathLen bytes, with more than MaxSegments
// segments, or whose pointer form would be longer than MaxPathLen bytes (so
// that String always parses back). Paths built with the Key, Index, End and
// Token methods are checked against the same limits when they are used.
//
// # Errors
//
// Every error is a *dberr.Error. Get, Set and Delete report:
//
//   - InvalidPath: limits exceeded; Set at an array index beyond the length;
//     Delete of the root.
//   - NotFound: a missing object key or array element (the message names the
//     segment and where it was looked for); for Set, an explicit index or [-]
//     under a missing parent.
//   - WrongType: stepping into a scalar; an explicit index (or [-]) on an
//     object; an explicit key on an array; a pointer token that is not an
//     array index used on an array.
//
// Patch reports the same codes, naming the failing operation by its index in
// the patch, plus ConstraintViolation for a failed "test" and
// InvalidArgument for an unknown operation. ParsePatch reports
// InvalidArgument for a malformed patch document and InvalidPath for a path
// that does not parse.
package jsonpath
