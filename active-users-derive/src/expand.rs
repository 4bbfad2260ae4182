//! Writes the `ActiveUserEntry` impl from a checked model. Nothing here can fail.

use crate::ast::{Field, Input};
use crate::attr::Source;
use crate::ctxt::Ctxt;
use crate::{fallback, valid};
use proc_macro2::TokenStream;
use quote::{quote, quote_spanned};
use syn::DeriveInput;
use syn::spanned::Spanned;

/// Runs every stage and returns the impl, or the errors plus a stub impl.
pub(crate) fn derive(input: &DeriveInput) -> TokenStream {
    let mut cx = Ctxt::default();
    let Some(model) = crate::ast::Input::from_syn(&mut cx, input) else {
        return cx.into_compile_errors();
    };
    valid::check(&mut cx, &model);
    if !cx.is_ok() {
        let errors = cx.into_compile_errors();
        // A stub for a generic struct would only add bound errors of its own.
        let stub = if input.generics.params.is_empty() {
            fallback::stub(input)
        } else {
            TokenStream::new()
        };
        return quote! { #errors #stub };
    }
    impl_entry(&model)
}

fn impl_entry(input: &Input<'_>) -> TokenStream {
    let ident = &input.original.ident;
    let field_defs = input.fields.iter().map(field_def);
    let extract = input.fields.iter().map(extract_field);
    let encode = input.fields.iter().map(encode_field);
    let encode_request = input.fields.iter().map(encode_request_field);
    let decode = input.fields.iter().map(decode_field);
    let values = input.fields.iter().map(value_of_field);
    quote! {
        #[automatically_derived]
        impl ::active_users::ActiveUserEntry for #ident {
            fn fields() -> &'static [::active_users::Field] {
                static __FIELDS: ::active_users::__private::OnceLock<
                    ::active_users::__private::Vec<::active_users::Field>,
                > = ::active_users::__private::OnceLock::new();
                __FIELDS.get_or_init(|| {
                    let mut __fields = ::active_users::__private::Vec::new();
                    #(#field_defs)*
                    __fields
                })
            }

            fn extract(
                __head: &::active_users::RequestHead<'_>,
                __cx: &::active_users::ExtractContext,
            ) -> ::core::option::Option<Self> {
                let _ = __cx;
                ::core::option::Option::Some(Self { #(#extract,)* })
            }

            fn encode_request(
                __head: &::active_users::RequestHead<'_>,
                __cx: &::active_users::ExtractContext,
                __enc: &mut ::active_users::codec::Encoder<'_>,
            ) -> ::core::option::Option<()> {
                let _ = __cx;
                #(#encode_request)*
                ::core::option::Option::Some(())
            }

            fn encode_fields(&self, __enc: &mut ::active_users::codec::Encoder<'_>) {
                #(#encode)*
            }

            fn decode_fields(
                __dec: &mut ::active_users::codec::Decoder<'_>,
            ) -> ::core::result::Result<Self, ::active_users::DecodeError> {
                ::core::result::Result::Ok(Self { #(#decode,)* })
            }

            fn write_values(
                &self,
                __out: &mut ::active_users::__private::Vec<
                    ::core::option::Option<::active_users::__private::String>,
                >,
            ) {
                #(#values)*
            }
        }
    }
}

fn field_def(field: &Field<'_>) -> TokenStream {
    let ty = field.ty;
    if field.attrs.flatten.is_some() {
        return quote_spanned! {ty.span()=>
            __fields.extend_from_slice(
                <#ty as ::active_users::ActiveUserEntry>::fields(),
            );
        };
    }
    let name = field.name();
    let optional = field.optional;
    let grouped = field.attrs.index.is_some();
    let indexed = grouped || field.attrs.distinct.is_some();
    let secret = field.attrs.secret.is_some();
    let hidden = secret || field.attrs.hidden.is_some();
    let value_ty = field.value_ty;
    let max_len = match &field.attrs.max_len {
        // `valid` checked that it parses and is in range.
        Some(lit) => {
            let n = lit.base10_parse::<usize>().unwrap_or(0);
            quote! { #n }
        }
        None => quote! { ::active_users::codec::DEFAULT_MAX_LEN },
    };
    quote! {
        __fields.push(::active_users::__private::field(
            #name,
            #optional,
            #indexed,
            #grouped,
            #hidden,
            #secret,
            <#value_ty as ::active_users::FieldValue>::KIND,
            #max_len,
        ));
    }
}

fn extract_field(field: &Field<'_>) -> TokenStream {
    let member = field.member;
    let ty = field.ty;
    let value_ty = field.value_ty;
    if field.attrs.flatten.is_some() {
        let value = quote_spanned! {ty.span()=>
            <#ty as ::active_users::ActiveUserEntry>::extract(__head, __cx)?
        };
        return quote! { #member: #value };
    }
    // `valid` guarantees exactly one source here.
    let Some(source) = field.attrs.sources.first() else {
        return quote! { #member: ::core::option::Option::None? };
    };
    let private = quote! { ::active_users::__private };
    let lookup = match &source.source {
        Source::Header(lit) => {
            let lower = lit.value().to_ascii_lowercase();
            quote_spanned! {value_ty.span()=>
                #private::header::<#value_ty>(__head, {
                    static __NAME: #private::HeaderName = #private::HeaderName::from_static(#lower);
                    &__NAME
                })
            }
        }
        Source::Cookie(lit) => quote_spanned! {value_ty.span()=>
            #private::cookie::<#value_ty>(__head, #lit)
        },
        Source::Query(lit) => quote_spanned! {value_ty.span()=>
            #private::query::<#value_ty>(__head, #lit)
        },
        Source::Extension => quote_spanned! {value_ty.span()=>
            #private::extension::<#value_ty>(__head)
        },
        Source::ClientIp => quote_spanned! {value_ty.span()=>
            #private::client_ip::<#value_ty>(__head, __cx)
        },
        Source::Fn(path) => {
            let call = quote_spanned! {path.span()=>
                #private::call_fn_value::<#value_ty, _>(#path, __head)
            };
            call
        }
    };
    if field.optional {
        quote! { #member: #lookup }
    } else {
        quote! { #member: #lookup? }
    }
}

/// The statement of `encode_request` for one field: its value looked up in the request and
/// written; text sources are written from the request's text, without a `String`.
fn encode_request_field(field: &Field<'_>) -> TokenStream {
    let ty = field.ty;
    if field.attrs.flatten.is_some() {
        return quote_spanned! {ty.span()=>
            <#ty as ::active_users::ActiveUserEntry>::encode_request(__head, __cx, __enc)?;
        };
    }
    let value_ty = field.value_ty;
    let optional = field.optional;
    let private = quote! { ::active_users::__private };
    // `valid` guarantees exactly one source here.
    let Some(source) = field.attrs.sources.first() else {
        return quote! { ::core::option::Option::None?; };
    };
    let text = match &source.source {
        Source::Header(lit) => {
            let lower = lit.value().to_ascii_lowercase();
            Some(quote! {
                #private::header_text(__head, {
                    static __NAME: #private::HeaderName = #private::HeaderName::from_static(#lower);
                    &__NAME
                })
            })
        }
        Source::Cookie(lit) => Some(quote! { #private::cookie_text(__head, #lit) }),
        Source::Query(lit) => Some(quote! {
            ::core::option::Option::as_deref(&#private::query_text(__head, #lit))
        }),
        _ => None,
    };
    if let Some(text) = text {
        return quote_spanned! {value_ty.span()=>
            #private::put_text::<#value_ty>(__enc, #text, #optional)?;
        };
    }
    let value = match &source.source {
        Source::Extension => quote_spanned! {value_ty.span()=>
            #private::extension_ref::<#value_ty>(__head)
        },
        Source::ClientIp => quote_spanned! {value_ty.span()=>
            ::core::option::Option::as_ref(&#private::client_ip::<#value_ty>(__head, __cx))
        },
        Source::Fn(path) => {
            return quote_spanned! {path.span()=>
                #private::put_fn::<#value_ty, _>(
                    __enc,
                    #private::call_fn::<#value_ty, _>(#path, __head),
                    #optional,
                )?;
            };
        }
        // Handled above.
        Source::Header(_) | Source::Cookie(_) | Source::Query(_) => TokenStream::new(),
    };
    quote_spanned! {value_ty.span()=>
        #private::put_value::<#value_ty>(__enc, #value, #optional)?;
    }
}

fn encode_field(field: &Field<'_>) -> TokenStream {
    let member = field.member;
    let ty = field.ty;
    if field.attrs.flatten.is_some() {
        return quote_spanned! {ty.span()=>
            <#ty as ::active_users::ActiveUserEntry>::encode_fields(&self.#member, __enc);
        };
    }
    let value_ty = field.value_ty;
    if field.optional {
        quote_spanned! {value_ty.span()=>
            __enc.put_opt::<#value_ty>(::core::option::Option::as_ref(&self.#member));
        }
    } else {
        quote_spanned! {value_ty.span()=>
            __enc.put::<#value_ty>(&self.#member);
        }
    }
}

fn decode_field(field: &Field<'_>) -> TokenStream {
    let member = field.member;
    let ty = field.ty;
    if field.attrs.flatten.is_some() {
        let value = quote_spanned! {ty.span()=>
            <#ty as ::active_users::ActiveUserEntry>::decode_fields(__dec)?
        };
        return quote! { #member: #value };
    }
    let value_ty = field.value_ty;
    let value = if field.optional {
        quote_spanned! {value_ty.span()=> __dec.take_opt::<#value_ty>()? }
    } else {
        quote_spanned! {value_ty.span()=> __dec.take::<#value_ty>()? }
    };
    quote! { #member: #value }
}

fn value_of_field(field: &Field<'_>) -> TokenStream {
    let member = field.member;
    let ty = field.ty;
    if field.attrs.flatten.is_some() {
        return quote_spanned! {ty.span()=>
            <#ty as ::active_users::ActiveUserEntry>::write_values(&self.#member, __out);
        };
    }
    let value_ty = field.value_ty;
    if field.optional {
        quote_spanned! {value_ty.span()=>
            __out.push(::core::option::Option::map(
                ::core::option::Option::as_ref(&self.#member),
                ::active_users::__private::text::<#value_ty>,
            ));
        }
    } else {
        quote_spanned! {value_ty.span()=>
            __out.push(::core::option::Option::Some(
                ::active_users::__private::text::<#value_ty>(&self.#member),
            ));
        }
    }
}
