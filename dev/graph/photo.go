package graph

import (
	"bytes"
	"crypto/sha256"
	"image"
	"image/color"
	"image/jpeg"
	"net/http"
	"strconv"
)

// PhotoSize is the width and height of the emulated profile photos, one of
// the sizes Graph documents for HD photos on Microsoft 365 ("48x48, 64x64,
// 96x96, 120x120, 240x240, 360x360, 432x432, 504x504, and 648x648").
const PhotoSize = 96

// photo serves GET /me/photo/$value. "Get profilePhoto": "If successful, this
// method returns a 200 OK response code and binary data of the requested
// photo. If no photo exists, the operation returns 404 Not Found."
func (c *call) photo(w http.ResponseWriter, r *http.Request) {
	c.server.mu.Lock()
	none := c.server.noPhoto[c.user.oid]
	c.server.mu.Unlock()
	if none {
		// The page documents only the 404. The error object has varied over the
		// years: ErrorItemNotFound or GetUserPhoto with "The photo wasn't
		// found." (microsoft-graph-docs#2248, 2018), then ImageNotFound, and
		// since January 2024 ErrorEntityNotFound, each with the message below
		// (msgraph-sdk-dotnet-core#796). The emulator answers the latest: a
		// caller must key on the 404, never on the code.
		c.error(w, http.StatusNotFound, "ErrorEntityNotFound",
			"Exception of type 'Microsoft.Fast.Profile.Core.Exception.ImageNotFoundException' was thrown.")
		return
	}
	b := Photo(c.user.oid)
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.Header().Set("ETag", `"`+c.user.oid+`-photo"`)
	_, _ = w.Write(b)
}

// Photo is the user's profile photo exactly as /me/photo/$value serves it: a
// baseline JPEG, PhotoSize pixels square, in colours derived from oid (a
// square of one colour framing another), so it decodes and differs per user.
func Photo(oid string) []byte {
	sum := sha256.Sum256([]byte(oid + "/photo"))
	outer := color.RGBA{sum[0], sum[1], sum[2], 0xFF}
	inner := color.RGBA{sum[3] | 0x80, sum[4] | 0x80, sum[5] | 0x80, 0xFF}
	img := image.NewRGBA(image.Rect(0, 0, PhotoSize, PhotoSize))
	const margin = PhotoSize / 4
	for y := range PhotoSize {
		for x := range PhotoSize {
			c := outer
			if x >= margin && x < PhotoSize-margin && y >= margin && y < PhotoSize-margin {
				c = inner
			}
			img.SetRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, &jpeg.Options{Quality: 90}); err != nil {
		panic(err) // writing to memory does not fail
	}
	return b.Bytes()
}
