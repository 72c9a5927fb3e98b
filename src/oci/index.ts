/** The OCI part's public face: image types, digests, layer tars (both ways) and the local store. */
export * from './types.js';
export * from './digest.js';
export { Store, REF_NAME } from './store.js';
export { writeImage, readImage, readImageByName, imageLayers, type ImageLayerInput, type WriteImageOptions, type StoredImage } from './image.js';
export { writeLayer, layerTar, layerTarEntries, type WriteLayerOptions, type LayerBlob } from './layer-writer.js';
export { extractLayer, DEFAULT_MAX_UNCOMPRESSED, type ExtractOptions, type LayerInfo } from './layer-extract.js';
export { LayerRefusedError } from './member-path.js';
export { compressionOf, COMPRESSED_MEDIA_TYPE, type Compression } from './compression.js';
export {
  OPAQUE_WHITEOUT, OPAQUE_XATTR, WHITEOUT_PREFIX, isWhiteout, walkLayerDir, type LayerNode,
} from './layer-dir.js';
export { tarStream, type TarWriteEntry } from './tar-writer.js';
export { readTar, type TarReadEntry } from './tar-reader.js';
export { encodeHeader, decodePax, encodePax, TarFormatError, type TarHeader, type TarType } from './tar-header.js';
