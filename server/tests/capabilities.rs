//! Authorization cannot be forgotten: a handler reaches the store, the publishing rules and
//! delivery only through the capability it holds, so one that skipped its check, or holds a
//! weaker one, does not compile. Each file in `compile_fail/` is such a handler; its `.stderr`
//! beside it is the compiler's refusal.

#[test]
fn a_handler_without_the_capability_for_a_change_does_not_compile() {
    trybuild::TestCases::new().compile_fail("tests/compile_fail/*.rs");
}
