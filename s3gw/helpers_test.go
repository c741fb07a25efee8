package s3gw

import "excloud.dev/buckets/catalog"

func accessKey(readOnly bool, buckets ...string) catalog.AccessKey {
	return catalog.AccessKey{ID: "EXCTESTKEY0000000001", OrgID: "otestorg00000", ReadOnly: readOnly, Buckets: buckets}
}

// errorStatus is the HTTP status err renders as.
func errorStatus(err error) int {
	return errorTable[toS3Error(err).Code].Status
}
