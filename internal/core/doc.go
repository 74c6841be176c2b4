// Package core holds the small data types every layer of in-mem shares:
// run identifiers, primitive tags, versions, entity references and the
// committed writeset that the engine hands to storage.
//
// The package depends only on internal/value, so that the engine, the storage
// layer and the public API can all use these types without importing one
// another. The public package re-exports them under the same names.
//
// Some numeric values here are persistent format, written into WAL records
// and snapshots: the PrimitiveType tags (KV=1 … Vector=7, System=8) and the
// Op codes (Put=1, Delete=2, Append=3). They must never change; the tests
// pin them. The text forms (RunID as a canonical UUID, Version as
// "kind:number", EntityRef as "<primitive>://<run>/<escaped key>") are a
// stable API: parsing the text that String produces gives the value back.
package core
