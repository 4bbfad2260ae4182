//! Parses the attributes of one field into [`FieldAttrs`], recording errors in the [`Ctxt`].

use crate::ctxt::Ctxt;
use crate::symbol::{
    ACTIVE_USERS, DISTINCT, FLATTEN, FROM_CLIENT_IP, FROM_COOKIE, FROM_EXTENSION, FROM_FN,
    FROM_HEADER, FROM_QUERY, HIDDEN, INDEX, MAX_LEN, OPTIONS_HINT, RENAME, SECRET, SOURCES,
};
use syn::{Attribute, Expr, ExprLit, Lit, LitStr, Meta, Path, Token};

/// Where a field's value comes from, as written by the user.
pub(crate) enum Source {
    Header(LitStr),
    Cookie(LitStr),
    Query(LitStr),
    Extension,
    ClientIp,
    Fn(Path),
}

/// One source attribute and the attribute it was written in (for spans).
pub(crate) struct SourceAttr<'a> {
    pub(crate) source: Source,
    pub(crate) attr: &'a Attribute,
}

/// An option given once, with where it was written (for error spans).
pub(crate) struct Flag {
    pub(crate) span: proc_macro2::Span,
}

/// What the attributes of one field say.
#[derive(Default)]
pub(crate) struct FieldAttrs<'a> {
    pub(crate) sources: Vec<SourceAttr<'a>>,
    /// Whether any source attribute was written, even one that did not parse.
    pub(crate) source_written: bool,
    pub(crate) flatten: Option<Flag>,
    pub(crate) rename: Option<LitStr>,
    pub(crate) index: Option<Flag>,
    pub(crate) distinct: Option<Flag>,
    pub(crate) hidden: Option<Flag>,
    pub(crate) secret: Option<Flag>,
    pub(crate) max_len: Option<syn::LitInt>,
}

impl<'a> FieldAttrs<'a> {
    /// Parses every attribute of a field that belongs to the derive; others are left alone.
    pub(crate) fn parse(cx: &mut Ctxt, attrs: &'a [Attribute]) -> Self {
        let mut out = FieldAttrs::default();
        for attr in attrs {
            let Some(ident) = attr.path().get_ident() else {
                continue;
            };
            let name = ident.to_string();
            let name = name.as_str();
            if name == ACTIVE_USERS {
                out.parse_options(cx, attr);
            } else if SOURCES.contains(&name) {
                out.source_written = true;
                if let Some(source) = parse_source(cx, name, attr) {
                    out.sources.push(SourceAttr { source, attr });
                }
            }
        }
        out
    }

    fn parse_options(&mut self, cx: &mut Ctxt, attr: &'a Attribute) {
        let list = match &attr.meta {
            Meta::List(list) => list,
            other => {
                cx.error_spanned_by(
                    other,
                    "#[active_users] expects options in parentheses, like #[active_users(index)]",
                );
                return;
            }
        };
        let parsed =
            list.parse_args_with(syn::punctuated::Punctuated::<Meta, Token![,]>::parse_terminated);
        let metas = match parsed {
            Ok(metas) => metas,
            Err(err) => {
                cx.syn_error(err);
                return;
            }
        };
        if metas.is_empty() {
            cx.error_spanned_by(
                attr,
                format!("#[active_users()] is empty; expected one of {OPTIONS_HINT}"),
            );
        }
        // The options live as long as the attribute; keep borrowing paths out of `attr`.
        for meta in metas {
            self.parse_option(cx, meta);
        }
    }

    fn parse_option(&mut self, cx: &mut Ctxt, meta: Meta) {
        let path = meta.path();
        let name = path
            .get_ident()
            .map(ToString::to_string)
            .unwrap_or_default();
        match (name.as_str(), &meta) {
            (FLATTEN | INDEX | DISTINCT | HIDDEN | SECRET, Meta::Path(_)) => {
                let slot = match name.as_str() {
                    FLATTEN => &mut self.flatten,
                    INDEX => &mut self.index,
                    DISTINCT => &mut self.distinct,
                    HIDDEN => &mut self.hidden,
                    _ => &mut self.secret,
                };
                if slot.is_some() {
                    cx.error_spanned_by(path, format!("duplicate #[active_users({name})] option"));
                } else {
                    *slot = Some(Flag {
                        span: syn::spanned::Spanned::span(path),
                    });
                }
            }
            (FLATTEN | INDEX | DISTINCT | HIDDEN | SECRET, other) => {
                cx.error_spanned_by(
                    other,
                    format!("#[active_users({name})] takes no value, write #[active_users({name})]"),
                );
            }
            (RENAME, Meta::NameValue(nv)) => match string_literal(&nv.value) {
                Some(lit) if self.rename.is_some() => {
                    cx.error_spanned_by(lit, "duplicate #[active_users(rename)] option");
                }
                Some(lit) => self.rename = Some(lit),
                None => cx.error_spanned_by(
                    &nv.value,
                    "#[active_users(rename)] expects a string, like #[active_users(rename = \"user\")]",
                ),
            },
            (RENAME, other) => cx.error_spanned_by(
                other,
                "#[active_users(rename)] expects a string, like #[active_users(rename = \"user\")]",
            ),
            (MAX_LEN, Meta::NameValue(nv)) => match int_literal(&nv.value) {
                Some(lit) if self.max_len.is_some() => {
                    cx.error_spanned_by(lit, "duplicate #[active_users(max_len)] option");
                }
                Some(lit) => self.max_len = Some(lit),
                None => cx.error_spanned_by(
                    &nv.value,
                    "#[active_users(max_len)] expects a number of bytes, like #[active_users(max_len = 1024)]",
                ),
            },
            (MAX_LEN, other) => cx.error_spanned_by(
                other,
                "#[active_users(max_len)] expects a number of bytes, like #[active_users(max_len = 1024)]",
            ),
            _ => cx.error_spanned_by(
                path,
                format!(
                    "unknown #[active_users] option `{}`; expected one of {OPTIONS_HINT}",
                    quote::ToTokens::to_token_stream(path).to_string().replace(' ', "")
                ),
            ),
        }
    }
}

fn string_literal(expr: &Expr) -> Option<LitStr> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Str(lit), ..
        }) => Some(lit.clone()),
        _ => None,
    }
}

fn int_literal(expr: &Expr) -> Option<syn::LitInt> {
    match expr {
        Expr::Lit(ExprLit {
            lit: Lit::Int(lit), ..
        }) => Some(lit.clone()),
        _ => None,
    }
}

fn parse_source(cx: &mut Ctxt, name: &str, attr: &Attribute) -> Option<Source> {
    match name {
        FROM_HEADER => name_argument(cx, attr, name, "x-service-id").map(Source::Header),
        FROM_COOKIE => name_argument(cx, attr, name, "sessionid").map(Source::Cookie),
        FROM_QUERY => name_argument(cx, attr, name, "ref").map(Source::Query),
        FROM_EXTENSION | FROM_CLIENT_IP => match &attr.meta {
            Meta::Path(_) => Some(if name == FROM_EXTENSION {
                Source::Extension
            } else {
                Source::ClientIp
            }),
            other => {
                cx.error_spanned_by(
                    other,
                    format!("#[{name}] takes no arguments, write #[{name}]"),
                );
                None
            }
        },
        FROM_FN => {
            let parsed = match &attr.meta {
                Meta::List(list) => list.parse_args::<Path>().ok(),
                _ => None,
            };
            if parsed.is_none() {
                cx.error_spanned_by(
                    attr,
                    "#[from_fn] expects the path of a function `fn(&Parts) -> Option<T>`, like #[from_fn(crate::auth::user_id)]",
                );
            }
            parsed.map(Source::Fn)
        }
        _ => None,
    }
}

/// Parses the single string argument of `#[from_header("...")]` and its siblings.
fn name_argument(cx: &mut Ctxt, attr: &Attribute, name: &str, example: &str) -> Option<LitStr> {
    let what = match name {
        FROM_HEADER => "a header name",
        FROM_COOKIE => "a cookie name",
        _ => "a query parameter name",
    };
    let message = format!("#[{name}] expects {what} string, like #[{name}(\"{example}\")]");
    let lit = match &attr.meta {
        Meta::List(list) => list.parse_args::<LitStr>().ok(),
        _ => None,
    };
    if lit.is_none() {
        match &attr.meta {
            Meta::List(list) if !list.tokens.is_empty() => {
                cx.error_spanned_by(&list.tokens, message)
            }
            _ => cx.error_spanned_by(attr, message),
        }
    }
    lit
}
