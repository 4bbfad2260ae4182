//! A model of the deriving struct that borrows the `syn` input.

use crate::attr::FieldAttrs;
use crate::ctxt::Ctxt;
use syn::{Data, DeriveInput, Fields, GenericArgument, Ident, PathArguments, Type};

/// The struct the derive runs on.
pub(crate) struct Input<'a> {
    pub(crate) original: &'a DeriveInput,
    pub(crate) fields: Vec<Field<'a>>,
}

/// One named field and what its attributes say.
pub(crate) struct Field<'a> {
    pub(crate) member: &'a Ident,
    pub(crate) ty: &'a Type,
    /// `T` for a field of type `Option<T>`, otherwise the field's type.
    pub(crate) value_ty: &'a Type,
    /// Whether the field's type is `Option<_>`.
    pub(crate) optional: bool,
    pub(crate) attrs: FieldAttrs<'a>,
    pub(crate) original: &'a syn::Field,
}

impl<'a> Field<'a> {
    /// The name the field is stored and shown under.
    pub(crate) fn name(&self) -> String {
        match &self.attrs.rename {
            Some(lit) => lit.value(),
            None => unraw(self.member),
        }
    }
}

fn unraw(ident: &Ident) -> String {
    let s = ident.to_string();
    s.strip_prefix("r#").map(str::to_owned).unwrap_or(s)
}

impl<'a> Input<'a> {
    /// Builds the model, or records why the input cannot be an entry.
    pub(crate) fn from_syn(cx: &mut Ctxt, input: &'a DeriveInput) -> Option<Self> {
        let named = match &input.data {
            Data::Struct(data) => match &data.fields {
                Fields::Named(named) => named,
                Fields::Unnamed(_) => {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(ActiveUserEntry)] needs a struct with named fields; the field names are the stored dimensions",
                    );
                    return None;
                }
                Fields::Unit => {
                    cx.error_spanned_by(
                        &input.ident,
                        "#[derive(ActiveUserEntry)] needs a struct with at least one named field",
                    );
                    return None;
                }
            },
            Data::Enum(data) => {
                cx.error_spanned_by(
                    data.enum_token,
                    "#[derive(ActiveUserEntry)] works on structs only, not on enums",
                );
                return None;
            }
            Data::Union(data) => {
                cx.error_spanned_by(
                    data.union_token,
                    "#[derive(ActiveUserEntry)] works on structs only, not on unions",
                );
                return None;
            }
        };
        let fields = named
            .named
            .iter()
            .filter_map(|field| {
                let member = field.ident.as_ref()?;
                let (optional, value_ty) = match option_inner(&field.ty) {
                    Some(inner) => (true, inner),
                    None => (false, &field.ty),
                };
                Some(Field {
                    member,
                    ty: &field.ty,
                    value_ty,
                    optional,
                    attrs: FieldAttrs::parse(cx, &field.attrs),
                    original: field,
                })
            })
            .collect();
        Some(Input {
            original: input,
            fields,
        })
    }
}

/// Recognises `Option<T>`, `core::option::Option<T>` and `std::option::Option<T>` by their path.
fn option_inner(ty: &Type) -> Option<&Type> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let segments: Vec<_> = path.path.segments.iter().collect();
    let last = segments.last()?;
    let prefix_ok = match segments.len() {
        1 => path.path.leading_colon.is_none(),
        3 => {
            (segments[0].ident == "core" || segments[0].ident == "std")
                && segments[1].ident == "option"
        }
        _ => false,
    };
    if !prefix_ok || last.ident != "Option" {
        return None;
    }
    let PathArguments::AngleBracketed(args) = &last.arguments else {
        return None;
    };
    match args.args.iter().collect::<Vec<_>>().as_slice() {
        [GenericArgument::Type(inner)] => Some(inner),
        _ => None,
    }
}
