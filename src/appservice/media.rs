//! `GET /_passerelle/media/v1/{token}/{filename}`: a Matrix file shared by link with a network
//! that takes URLs. The token is the capability (see [`crate::media::links`]); no other
//! authentication, so only signed files are ever served.

use axum::{
    extract::{Path, State},
    http::{StatusCode, header},
    response::{IntoResponse, Response},
};
use ruma::MxcUri;

use super::{AppError, AppState};

pub(super) async fn file(
    State(state): State<AppState>,
    Path((token, filename)): Path<(String, String)>,
) -> Response {
    let runtime = &state.runtime;
    let Some(mxc) = runtime.links().verify(&token) else {
        return AppError::not_found("No such file").into_response();
    };
    match runtime
        .matrix()
        .download(<&MxcUri>::from(mxc.as_str()))
        .await
    {
        Ok((data, content_type)) => {
            let content_type =
                content_type.unwrap_or_else(|| "application/octet-stream".to_owned());
            let disposition = format!(
                "attachment; filename*=UTF-8''{}",
                url::form_urlencoded::byte_serialize(filename.as_bytes())
                    .collect::<String>()
                    .replace('+', "%20")
            );
            (
                StatusCode::OK,
                [
                    (header::CONTENT_TYPE, content_type),
                    (header::CONTENT_DISPOSITION, disposition),
                    (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_owned()),
                    (header::CACHE_CONTROL, "private, max-age=3600".to_owned()),
                ],
                data,
            )
                .into_response()
        }
        Err(e) if e.status == Some(404) => AppError::not_found("No such file").into_response(),
        Err(e) => {
            tracing::warn!(error = %e, "Cannot serve a shared file.");
            AppError::new(
                StatusCode::BAD_GATEWAY,
                "M_UNKNOWN",
                "The file is not available right now",
            )
            .into_response()
        }
    }
}
