//! The `#[derive(ActiveUserEntry)]` macro of the `active-users` crate.
//!
//! Do not depend on this crate directly: use `active_users::ActiveUserEntry`, which re-exports the
//! derive next to the trait it implements. The attributes are documented there.
//!
//! The expansion runs in stages, one module each: `attr` parses the field attributes, `ast`
//! builds a model of the struct, `valid` checks it, `expand` writes the impl (it cannot fail),
//! and `fallback` writes a stub impl when there were errors, so the user sees the errors we
//! report and not a cascade of "trait not implemented" errors after them.

mod ast;
mod attr;
mod ctxt;
mod expand;
mod fallback;
mod symbol;
mod valid;

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

/// Derives `active_users::ActiveUserEntry`; see that trait for the attributes.
#[proc_macro_derive(
    ActiveUserEntry,
    attributes(
        from_header,
        from_cookie,
        from_query,
        from_extension,
        from_client_ip,
        from_fn,
        active_users
    )
)]
pub fn derive_active_user_entry(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    expand::derive(&input).into()
}
