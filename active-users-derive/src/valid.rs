//! Every check on the model; errors are recorded, never raised.

use crate::ast::{Field, Input};
use crate::attr::Source;
use crate::ctxt::Ctxt;
use crate::symbol::{DISTINCT, FLATTEN, HIDDEN, INDEX, MAX_LEN_RANGE, SECRET};
use std::collections::HashSet;

/// Checks the whole input; `cx` collects every problem found.
pub(crate) fn check(cx: &mut Ctxt, input: &Input<'_>) {
    let generics = &input.original.generics;
    if !generics.params.is_empty() {
        cx.error_spanned_by(
            generics,
            "#[derive(ActiveUserEntry)] does not support generic parameters; entries are stored and read back, so every field needs a concrete type",
        );
    }
    if input.fields.is_empty() {
        cx.error_spanned_by(
            &input.original.ident,
            "#[derive(ActiveUserEntry)] needs a struct with at least one named field",
        );
    }
    let mut seen = HashSet::new();
    for field in &input.fields {
        check_field(cx, field);
        if field.attrs.flatten.is_some() {
            continue;
        }
        let name = field.name();
        if !seen.insert(name.clone()) {
            cx.error_spanned_by(
                name_tokens(field),
                format!("two fields are named `{name}`; give one another name with #[active_users(rename = \"...\")]"),
            );
        }
    }
}

/// Where the field's stored name is written: its `rename`, or else its identifier.
fn name_tokens<'a>(field: &'a Field<'_>) -> &'a dyn quote::ToTokens {
    match &field.attrs.rename {
        Some(lit) => lit,
        None => field.member,
    }
}

fn check_field(cx: &mut Ctxt, field: &Field<'_>) {
    let attrs = &field.attrs;
    if let Some(extra) = attrs.sources.get(1) {
        let first = attr_name(attrs.sources[0].attr);
        cx.error_spanned_by(
            extra.attr,
            format!(
                "field `{}` already takes its value from #[{first}]; a field has exactly one source",
                field.member
            ),
        );
    }
    if attrs.flatten.is_some() {
        if let Some(source) = attrs.sources.first() {
            cx.error_spanned_by(
                source.attr,
                "#[active_users(flatten)] embeds another entry, which extracts its own fields; remove the source attribute",
            );
        }
        if field.optional {
            cx.error_spanned_by(
                field.ty,
                "#[active_users(flatten)] needs an entry type, not an Option; make the inner entry's fields optional instead",
            );
        }
        for (option, flag) in [
            (INDEX, &attrs.index),
            (DISTINCT, &attrs.distinct),
            (HIDDEN, &attrs.hidden),
            (SECRET, &attrs.secret),
        ] {
            if let Some(flag) = flag {
                cx.syn_error(syn::Error::new(
                    flag.span,
                    format!("#[active_users({option})] cannot be combined with #[active_users({FLATTEN})]; put it on the embedded entry's fields"),
                ));
            }
        }
        if let Some(rename) = &attrs.rename {
            cx.error_spanned_by(
                rename,
                "#[active_users(rename)] cannot be combined with #[active_users(flatten)]; the embedded fields keep their own names",
            );
        }
        if let Some(max_len) = &attrs.max_len {
            cx.error_spanned_by(
                max_len,
                "#[active_users(max_len)] cannot be combined with #[active_users(flatten)]; put it on the embedded entry's fields",
            );
        }
        return;
    }
    if let Some(max_len) = &attrs.max_len {
        let ok = max_len
            .base10_parse::<u64>()
            .is_ok_and(|n| MAX_LEN_RANGE.contains(&n));
        if !ok {
            cx.error_spanned_by(
                max_len,
                format!(
                    "#[active_users(max_len)] must be from {} to {} bytes",
                    MAX_LEN_RANGE.start(),
                    MAX_LEN_RANGE.end()
                ),
            );
        }
    }
    if let Some(secret) = &attrs.secret {
        // The store keeps 11 characters of a hash in its place, which only `String` reads back
        // whatever they are (a type that checks its format would refuse them).
        let is_string = match field.value_ty {
            syn::Type::Path(path) => path
                .path
                .segments
                .last()
                .is_some_and(|s| s.ident == "String" && s.arguments.is_none()),
            _ => false,
        };
        if !is_string {
            cx.syn_error(syn::Error::new(
                secret.span,
                "#[active_users(secret)] needs a `String` or `Option<String>` field: the store keeps a hash of the value in its place, which only a String reads back",
            ));
        }
    }
    if let (Some(_), Some(distinct)) = (&attrs.index, &attrs.distinct) {
        cx.syn_error(syn::Error::new(
            distinct.span,
            "#[active_users(index)] already counts distinct values; use `index` (distinct and per-value counts) or `distinct` (distinct counts only), not both",
        ));
    }
    if !attrs.source_written {
        cx.error_spanned_by(
            field.original,
            format!(
                "field `{}` has no source; add one of #[from_header(\"...\")], #[from_cookie(\"...\")], #[from_query(\"...\")], #[from_extension], #[from_client_ip], #[from_fn(path)] or #[active_users(flatten)]",
                field.member
            ),
        );
    }
    if !valid_field_name(&field.name()) {
        cx.error_spanned_by(
            name_tokens(field),
            "a stored field name must be 1 to 64 ASCII letters, digits, `_`, `-` or `.`; use #[active_users(rename = \"...\")]",
        );
    }
    for source in &attrs.sources {
        match &source.source {
            Source::Header(lit) => {
                if let Err(why) = check_token(&lit.value()) {
                    cx.error_spanned_by(lit, format!("invalid header name: {why}"));
                }
            }
            Source::Cookie(lit) => {
                if let Err(why) = check_token(&lit.value()) {
                    cx.error_spanned_by(lit, format!("invalid cookie name: {why}"));
                }
            }
            Source::Query(lit) => {
                let value = lit.value();
                if value.is_empty() {
                    cx.error_spanned_by(lit, "invalid query parameter name: it is empty");
                } else if value.contains(['&', '=', '#']) {
                    cx.error_spanned_by(
                        lit,
                        "invalid query parameter name: it contains `&`, `=` or `#`, so no request could carry it",
                    );
                }
            }
            Source::Extension | Source::ClientIp | Source::Fn(_) => {}
        }
    }
}

fn attr_name(attr: &syn::Attribute) -> String {
    attr.path()
        .get_ident()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// Whether `name` is usable as a stored field name (it appears in Redis key names and JSON).
pub(crate) fn valid_field_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// Checks an RFC 9110 token (the grammar of header and cookie names).
fn check_token(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("it is empty".to_owned());
    }
    match name.chars().find(|c| !is_tchar(*c)) {
        Some(c) => Err(format!(
            "{c:?} is not allowed; names are letters, digits and !#$%&'*+-.^_`|~"
        )),
        None => Ok(()),
    }
}

fn is_tchar(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c)
}
