package gateway

import (
	"fmt"
	"net/http"

	"github.com/onekey-oss/onekey/api/catalog"
	"github.com/onekey-oss/onekey/services/gateway/internal/reqbody"
)

// embeddingsAPI is OpenAI's embeddings, served for the embedding models of
// the providers with an OpenAI-compatible embeddings endpoint. It is its
// own exchange: a passthrough. Embeddings never stream.
type embeddingsAPI struct{}

func (embeddingsAPI) spec() apiSpec {
	return apiSpec{name: "embeddings", path: "/v1/embeddings", shape: shapeOpenAI, billed: true}
}

func (embeddingsAPI) accept(m catalog.Model) *apiError {
	if m.Kind != catalog.Embedding {
		return errBadRequest(fmt.Sprintf("`%s` is not an embedding model.", m.ID))
	}
	return nil
}

func (e embeddingsAPI) exchange(catalog.Model) exchange { return e }

func (embeddingsAPI) dialect() dialect { return openAIDialect{} }

func (embeddingsAPI) path(*http.Request) string { return "/embeddings" }

func (embeddingsAPI) request(body []byte, info reqbody.Info, m catalog.Model, limit int64) ([]byte, error) {
	if limit > 0 {
		info.SetOutputLimit("max_tokens", limit)
	}
	return reqbody.Rewrite(body, info, m.UpstreamID, false)
}

func (embeddingsAPI) answer(body []byte, res *result, bill *biller) []byte {
	return openAIAnswer(body, res, bill)
}

// stream: an upstream that streams embeddings anyway is read as a chat
// stream would be (its usage chunk, if any).
func (embeddingsAPI) stream(_ reqbody.Info, bill *biller) streamReader {
	return &chatStream{bill: bill}
}
