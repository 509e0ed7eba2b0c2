//! Media: upload, and download through the authenticated endpoint with a size cap.

use ruma::{
    MxcUri, UserId,
    api::client::{authenticated_media::get_content, media::create_content},
};

use super::{MatrixClient, MatrixError, permanent_error, too_large};

impl MatrixClient {
    /// Uploads media as `user` (or the bot); returns its `mxc://` URI.
    pub async fn upload(
        &self,
        user: Option<&UserId>,
        data: Vec<u8>,
        content_type: &str,
        filename: Option<&str>,
    ) -> Result<String, MatrixError> {
        if data.len() > self.max_media {
            return Err(too_large("the upload", self.max_media));
        }
        let mut request = create_content::v3::Request::new(data);
        request.content_type = Some(content_type.to_owned());
        request.filename = filename.map(str::to_owned);
        Ok(self.call(request, user).await?.content_uri.to_string())
    }

    /// Downloads media through the authenticated endpoint, refusing anything larger than
    /// `homeserver.max_media_size`; returns the bytes and their content type.
    pub async fn download(&self, mxc: &MxcUri) -> Result<(Vec<u8>, Option<String>), MatrixError> {
        let (server, media_id) = mxc
            .parts()
            .map_err(|e| permanent_error(format!("{mxc}: {e}")))?;
        let request = get_content::v1::Request::new(media_id.to_owned(), server.to_owned());
        let response = self.call_capped(request, None, self.max_media).await?;
        Ok((response.file, response.content_type))
    }
}
