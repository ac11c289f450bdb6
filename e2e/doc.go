// Package e2e holds the tests that wire several services together on the
// real embedded bus and database: each service's own module depends only on
// api and pkg, and what crosses services is checked here.
package e2e
