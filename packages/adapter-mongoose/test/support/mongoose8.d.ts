// Mongoose 8's types declare the module 'mongoose' (ambiently), not the alias this package
// installs it under; the tests use it through Mongoose 9's types (see mongo.ts).
declare module 'mongoose8' {
  const mongoose: unknown;
  export default mongoose;
}
